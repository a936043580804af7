package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
)

// bodyLimit is the largest request body accepted (413 beyond).
const bodyLimit = 1 << 20

// decodeBody decodes a JSON object request body into dst (see decodeStrict), refusing a
// missing body and another content type (415). An endpoint that takes a body takes no
// query parameters.
func decodeBody(c *fiber.Ctx, dst any) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	body := bytes.TrimSpace(c.Body())
	if len(body) == 0 {
		return domain.Invalidf("", "A JSON object request body is required.")
	}
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEApplicationJSON {
		return fiber.ErrUnsupportedMediaType
	}
	if err := decodeStrict("", body, dst); err != nil {
		return err
	}
	if d, ok := dst.(ruleDraft); ok {
		markGivenFields(body, d.draftActions())
	}
	return nil
}

// ruleDraft is a request body with a rule's actions at its top level.
type ruleDraft interface {
	draftActions() []domain.AutomationAction
}

func (r *automationRequest) draftActions() []domain.AutomationAction { return derefActions(r.Actions) }
func (r *backtestRequest) draftActions() []domain.AutomationAction   { return derefActions(r.Actions) }
func (r *dryRunRequest) draftActions() []domain.AutomationAction     { return derefActions(r.Actions) }
func (r *validateRequest) draftActions() []domain.AutomationAction   { return derefActions(r.Actions) }

func derefActions(a *[]domain.AutomationAction) []domain.AutomationAction {
	if a == nil {
		return nil
	}
	return *a
}

// markGivenFields records in each action the fields the body sent it with (see
// domain.AutomationAction.Given). The body has passed decodeStrict, so it decodes.
func markGivenFields(body []byte, acts []domain.AutomationAction) {
	if len(acts) == 0 {
		return
	}
	var raw struct {
		Actions []map[string]json.RawMessage `json:"actions"`
	}
	if json.Unmarshal(body, &raw) != nil {
		return
	}
	for i := range min(len(raw.Actions), len(acts)) {
		for k := range raw.Actions[i] {
			acts[i].Given = append(acts[i].Given, k)
		}
	}
}

// decodeStrict decodes one JSON object into dst and names the offending field on error.
// Beyond encoding/json it refuses, anywhere in the document, a field given twice, a field
// name that matches one of dst's only when case is ignored ({"Subject": ...}), text the
// store cannot keep (domain.CheckStorable) and times outside years 1 to 9999. prefix is the
// path of the object within the request body ("" at the top).
func decodeStrict(prefix string, data []byte, dst any) error {
	if len(data) == 0 || data[0] != '{' {
		if prefix == "" {
			return domain.Invalidf("", "The request body must be a JSON object.")
		}
		return domain.Invalidf(prefix, "`%s` must be an object.", prefix)
	}
	if !utf8.Valid(data) {
		return domain.Invalidf(prefix, "The request body must be UTF-8.")
	}
	w := &jsonWalker{dec: json.NewDecoder(bytes.NewReader(data)), prefix: prefix}
	w.dec.UseNumber() // numbers are the second pass's to judge, against their fields
	if err := w.value(reflect.TypeOf(dst), 0); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(prefix, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return domain.Invalidf("", "The request body must hold a single JSON object and nothing after it.")
	}
	return nil
}

func jsonError(prefix string, err error) error {
	join := func(field string) string {
		switch {
		case prefix == "":
			return field
		case field == "":
			return prefix
		}
		return prefix + "." + field
	}
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return domain.Invalidf("", "The request body is not valid JSON: %s (at byte %d).", syntaxErr.Error(), syntaxErr.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return domain.Invalidf("", "The request body is not valid JSON: it ends too early.")
	case errors.As(err, &typeErr):
		field := join(typeErr.Field)
		return domain.Invalidf(field, "`%s` must be %s.", field, describeType(typeErr.Type))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return domain.Invalidf(join(name), "Unknown field `%s` in the request body.", join(name))
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return de
	}
	return domain.Invalidf("", "The request body could not be decoded: %v", err)
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(describeType(t.Elem()), "a "), "an ") + "s"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return describeType(t.Elem())
	}
	return fmt.Sprintf("of type %s", t)
}

// checkQuery refuses query parameters outside allowed, so a typo such as `stauts=open`
// is an error rather than a silently unfiltered list; it also refuses a parameter given
// twice, an empty or blank value (`tag=` is not "any tag") and values the store cannot
// keep (domain.CheckStorable).
func checkQuery(c *fiber.Ctx, allowed ...string) error {
	var err error
	var seen []string // at most len(allowed) names
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		if err != nil {
			return
		}
		name := string(k)
		switch {
		case !slices.Contains(allowed, name):
			accepts := "takes no query parameters"
			if len(allowed) > 0 {
				accepts = "accepts " + strings.Join(allowed, ", ")
			}
			err = domain.Invalidf(name, "Unknown query parameter `%s`; this endpoint %s.", name, accepts)
		case slices.Contains(seen, name):
			err = domain.Invalidf(name, "Query parameter `%s` is given more than once.", name)
		case strings.TrimSpace(string(v)) == "":
			// Empty never means "no filter": a client that meant none leaves the parameter out.
			err = domain.Invalidf(name, "Query parameter `%s` is empty; give it a value or leave it out.", name)
		default:
			seen = append(seen, name)
			err = domain.CheckStorable(name, string(v))
		}
	})
	return err
}

// maxJSONDepth bounds how deeply a request body may nest; none needs more than a few levels.
const maxJSONDepth = 32

// nonBlank is an optional text field of a request that, when given, must say something:
// leaving it out gets the default, but "" is refused rather than taken as left out.
type nonBlank string

var (
	nonBlankType    = reflect.TypeFor[nonBlank]()
	timeType        = reflect.TypeFor[time.Time]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	fieldsByType    sync.Map // reflect.Type -> map[string]reflect.Type
)

// jsonWalker reads a document token by token, knowing from the destination's type which
// fields each object may have, and checks what encoding/json lets through (see
// decodeStrict). Its cost is linear in the document: a value's path is only built for an
// error.
type jsonWalker struct {
	dec    *json.Decoder
	prefix string
	path   []pathStep
}

// pathStep is an object key or, when index >= 0, an array index.
type pathStep struct {
	key   string
	index int
}

// where names the value being read, as params do: contact.email, actions[0].url.
func (w *jsonWalker) where() string { return paramPath(w.prefix, w.path) }

// paramPath names a place in a request body as `param` does: prefix, then keys joined by
// dots and indices in brackets.
func paramPath(prefix string, path []pathStep) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, s := range path {
		if s.index >= 0 {
			fmt.Fprintf(&b, "[%d]", s.index)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	return b.String()
}

func (w *jsonWalker) token() (json.Token, error) {
	tok, err := w.dec.Token()
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, jsonError(w.prefix, err)
	}
	return tok, nil
}

// value reads one value meant for type t (nil: anything).
func (w *jsonWalker) value(t reflect.Type, depth int) error {
	tok, err := w.token()
	if err != nil {
		return err
	}
	t = walkedType(t)
	if err := w.fits(t, tok); err != nil {
		return err
	}
	switch tok := tok.(type) {
	case json.Delim:
		if depth == maxJSONDepth {
			param := w.where()
			return domain.Invalidf(param, "`%s` nests more than %d levels deep.", param, maxJSONDepth)
		}
		if tok == '{' {
			return w.object(t, depth+1)
		}
		return w.array(t, depth+1)
	case string:
		return w.text(t, tok)
	case nil:
		// encoding/json takes null as "leave it as it is", so {"subject": null} would be
		// a silent no-op. A field where null means something (clearing a contact,
		// resetting a setting) keeps its value raw and says so itself.
		if t != nil {
			param := w.where()
			return domain.Invalidf(param, "`%s` cannot be null.", param)
		}
	}
	return nil
}

// fits refuses a value of the wrong kind for t (a number for a string, a fraction for an
// integer, a string for a time's object...), naming it where it is (actions[0].timeout_ms),
// which encoding/json cannot: its errors lose array indices and times' field names.
func (w *jsonWalker) fits(t reflect.Type, tok json.Token) error {
	if t == nil || tok == nil {
		return nil
	}
	var ok bool
	switch tok := tok.(type) {
	case json.Delim:
		switch t.Kind() {
		case reflect.Struct, reflect.Map:
			ok = tok == '{' && t != timeType
		case reflect.Slice, reflect.Array:
			ok = tok == '['
		}
	case string:
		ok = t.Kind() == reflect.String || t == timeType
	case bool:
		ok = t.Kind() == reflect.Bool
	case json.Number:
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			_, err := strconv.ParseInt(string(tok), 10, t.Bits())
			ok = err == nil
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			_, err := strconv.ParseUint(string(tok), 10, t.Bits())
			ok = err == nil
		case reflect.Float32, reflect.Float64:
			ok = true
		}
	}
	if ok {
		return nil
	}
	param := w.where()
	if t == timeType {
		return domain.Invalidf(param, "`%s` must be an RFC 3339 time like 2026-11-22T10:00:00Z.", param)
	}
	return domain.Invalidf(param, "`%s` must be %s.", param, describeType(t))
}

func (w *jsonWalker) text(t reflect.Type, s string) error {
	// Checked first without a name, which costs nothing to build.
	if domain.CheckStorable("", s) != nil {
		return domain.CheckStorable(w.where(), s)
	}
	if t == nonBlankType && strings.TrimSpace(s) == "" {
		param := w.where()
		return domain.Invalidf(param, "`%s` is empty; give a value or leave the field out.", param)
	}
	if t != timeType {
		return nil
	}
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		param := w.where()
		return domain.Invalidf(param, "`%s` must be an RFC 3339 time like 2026-11-22T10:00:00Z; got %q.", param, s)
	}
	if domain.CheckTime("", at) != nil {
		return domain.CheckTime(w.where(), at)
	}
	return nil
}

func (w *jsonWalker) object(t reflect.Type, depth int) error {
	var fields map[string]reflect.Type
	var elem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = jsonFields(t)
		case reflect.Map:
			elem = t.Elem()
		}
	}
	seen := make(map[string]struct{})
	w.path = append(w.path, pathStep{index: -1})
	for w.dec.More() {
		tok, err := w.token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		w.path[len(w.path)-1].key = key
		if _, dup := seen[key]; dup {
			param := w.where()
			return domain.Invalidf(param, "`%s` is given more than once.", param)
		}
		seen[key] = struct{}{}
		if err := w.text(nil, key); err != nil {
			return err
		}
		vt := elem
		if fields != nil {
			var known bool
			if vt, known = fields[key]; !known {
				return unknownField(w.where(), key, fields)
			}
		}
		if err := w.value(vt, depth); err != nil {
			return err
		}
	}
	w.path = w.path[:len(w.path)-1]
	_, err := w.token()
	return err
}

func (w *jsonWalker) array(t reflect.Type, depth int) error {
	var elem reflect.Type
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		elem = t.Elem()
	}
	w.path = append(w.path, pathStep{})
	for i := 0; w.dec.More(); i++ {
		w.path[len(w.path)-1].index = i
		if err := w.value(elem, depth); err != nil {
			return err
		}
	}
	w.path = w.path[:len(w.path)-1]
	_, err := w.token()
	return err
}

// unknownField names a field dst does not have. encoding/json would take a field that
// differs only in case (Subject for subject), so the message says which one was meant.
func unknownField(param, key string, fields map[string]reflect.Type) error {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return domain.Invalidf(param, "Unknown field `%s` in the request body; field names are case-sensitive: did you mean `%s`?", param, name)
		}
	}
	return domain.Invalidf(param, "Unknown field `%s` in the request body.", param)
}

// walkedType is the type whose shape the walker follows for a value decoded into t: nil
// when the value may be anything (interfaces, json.RawMessage and other types that decode
// themselves, checked when they are decoded in turn).
func walkedType(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t == timeType {
		return t
	}
	if t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	return t
}

// jsonFields maps the JSON names of a struct's fields, embedded structs' included, to
// their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldsByType.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if ft := walkedType(f.Type); f.Anonymous && name == "" && ft != nil && ft.Kind() == reflect.Struct {
			for k, v := range jsonFields(ft) {
				if _, shadowed := m[k]; !shadowed {
					m[k] = v
				}
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	fieldsByType.Store(t, m)
	return m
}
