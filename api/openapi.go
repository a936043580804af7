package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
)

// openAPIYAML is the public API's contract. Tests validate every request and response
// they make against it, so it cannot drift from the code.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// loadOpenAPI parses and validates the document.
func loadOpenAPI() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(openAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.yaml is invalid: %w", err)
	}
	return doc, nil
}

// openAPIJSON renders the document as served at /api/v1/public/openapi.json.
func openAPIJSON() ([]byte, error) {
	doc, err := loadOpenAPI()
	if err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}
