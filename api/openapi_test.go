package main

import (
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestNullableSchemasAcceptNull: in OpenAPI 3.0.3, nullable adds null to the type of its own
// schema only, so a nullable schema without a type, or with an allOf, oneOf or anyOf (whose
// branches still refuse null), does not accept null the way Prism reads it (issue 20:
// action.response with allOf + nullable). Every nullable schema in the document has a type
// and no such branches, and kin-openapi accepts null for it.
func TestNullableSchemasAcceptNull(t *testing.T) {
	doc, _ := spec(t)
	seen := map[*openapi3.Schema]bool{}
	var walk func(where string, ref *openapi3.SchemaRef)
	walk = func(where string, ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		if s.Nullable {
			if s.Type == nil || len(s.AllOf)+len(s.OneOf)+len(s.AnyOf) > 0 {
				t.Errorf("%s: nullable without a type of its own, or with allOf/oneOf/anyOf: validators refuse null there", where)
			} else if err := s.VisitJSON(nil); err != nil {
				t.Errorf("%s: null refused: %v", where, err)
			}
		}
		for name, p := range s.Properties {
			walk(where+"."+name, p)
		}
		walk(where+"[]", s.Items)
		walk(where+".*", s.AdditionalProperties.Schema)
		for _, list := range []openapi3.SchemaRefs{s.AllOf, s.OneOf, s.AnyOf} {
			for _, b := range list {
				walk(where, b)
			}
		}
	}
	for name, s := range doc.Components.Schemas {
		walk(name, s)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody != nil {
				for _, mt := range op.RequestBody.Value.Content {
					walk(method+" "+path+" body", mt.Schema)
				}
			}
			for status, r := range op.Responses.Map() {
				for _, mt := range r.Value.Content {
					walk(method+" "+path+" "+status, mt.Schema)
				}
			}
		}
	}
	// The fields issue 20 found, by name, so that none is dropped from the walk unnoticed.
	for _, p := range []struct{ schema, field string }{
		{"Ticket", "contact"}, {"TicketUpdate", "contact"}, {"Action", "response"}, {"ActionAttempt", "response"},
		{"Run", "explanation"}, {"DryRunResponse", "explanation"},
	} {
		if err := doc.Components.Schemas[p.schema].Value.Properties[p.field].Value.VisitJSON(nil); err != nil {
			t.Errorf("%s.%s refuses null: %v", p.schema, p.field, err)
		}
	}
}
