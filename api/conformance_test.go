package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/temporaltest"
)

// TestTheServerKeepsItsContract walks the OpenAPI document itself: for every operation it
// sends requests generated from the document's schemas, valid ones (which must be
// accepted: 2xx, or the operation's documented 404 or 409) and, from every constraint of
// every parameter, header and body field, invalid ones (which must be 400 naming the field
// in `param`, and change nothing). Every response is checked against the document (doValidated), every
// undocumented method on a documented path must be 405 with the documented methods in
// Allow, and no schema may mark itself nullable in a way validators do not honour.
//
// The generated values are random from a seed the failure message prints; set
// CONFORMANCE_SEED to replay one.
func TestTheServerKeepsItsContract(t *testing.T) {
	doc, _ := spec(t)
	t.Run("nullable schemas", func(t *testing.T) { checkNullables(t, doc) })

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CONFORMANCE_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	ts := temporaltest.Shared(t)
	e := newEnvWithTemporal(t, ts.Addr)
	rc := newReceiver(t, nil)
	f := e.actionFixture(rc.URL)
	c := &conformance{e: e, doc: doc, key: f.key, tenant: f.tenant, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	c.baseURL = rc.URL
	c.shared = map[string]string{"ticket_id": f.ticket}
	for _, name := range []string{"action_id", "automation_id", "sla_policy_id", "key_id", "replay_id", "erasure_id"} {
		c.shared[name] = c.fixture(t, name)
	}

	start := time.Now()
	paths := doc.Paths.InMatchingOrder()
	slices.Sort(paths)
	for _, path := range paths {
		item := doc.Paths.Value(path)
		for _, method := range []string{"GET", "POST", "PATCH", "DELETE"} {
			op := item.GetOperation(method)
			if op == nil {
				continue
			}
			t.Run(method+" "+path, func(t *testing.T) {
				c.operation(t, method, path, item, op)
				c.restoreSettings(t)
				if t.Failed() {
					t.Logf("replay with CONFORMANCE_SEED=%d", seed)
				}
			})
		}
		t.Run("other methods "+path, func(t *testing.T) { c.otherMethods(t, path, item) })
	}
	t.Logf("%d requests in %s (seed %d)", c.requests, time.Since(start).Round(time.Millisecond), seed)
}

type conformance struct {
	e        *testEnv
	doc      *openapi3.T
	key      string
	tenant   string
	rng      *rand.Rand
	shared   map[string]string // path parameter -> an id that exists and stays
	baseURL  string            // the tenant's actions base URL
	requests int
	keys     int // Idempotency-Keys made unique so far
}

// semantic holds values for fields whose validity the document cannot express (an expr
// condition, a URL the tenant's allow-list admits, a template): the descriptions say so.
var semantic = map[string]any{
	"condition": "ticket.priority == \"urgent\"",
	"url":       "/hooks/conformance",
	"body_json": `{"ticket": "{{ ticket.ticket_id }}"}`,
	"method":    "POST", // GET and DELETE take no body_json: the document says so in words
	"since":     time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339),
	"until":     time.Now().UTC().Format(time.RFC3339),
}

func (c *conformance) do(t *testing.T, r req) *response {
	t.Helper()
	c.requests++
	if r.key == "" {
		r.key = c.key
	}
	return doValidated(t, c.e.app, r)
}

// restoreSettings undoes what a valid PATCH /admin/settings set (a random rate limit of
// 23 requests a second would throttle every operation after it), back to the fixture's
// base URL and allowed hosts with Threada's defaults.
func (c *conformance) restoreSettings(t *testing.T) {
	t.Helper()
	resp := c.do(t, req{method: "PATCH", path: "/api/v1/admin/settings", body: map[string]any{
		"actions_base_url": c.baseURL, "allowed_hosts": []string{},
		"action_defaults": map[string]any{"timeout_ms": nil, "max_attempts": nil},
		"rate_limits":     map[string]any{"key_rps": nil, "tenant_rps": nil},
	}})
	if resp.Status != http.StatusOK {
		t.Fatalf("restoring the settings: %d %s", resp.Status, resp.Body)
	}
}

// fixture makes a new resource for a path parameter and returns its id; a replay batch
// is made through the API like the others.
func (c *conformance) fixture(t *testing.T, param string) string {
	t.Helper()
	create := map[string]struct {
		path, field string
		body        func() any
	}{
		"ticket_id": {"/api/v1/public/tickets", "ticket.summary.ticket_id", func() any { return map[string]any{"subject": "Conformance"} }},
		"action_id": {"/api/v1/public/tickets/" + c.shared["ticket_id"] + "/actions", "action.action_id", func() any { return referenceAction() }},
		"automation_id": {"/api/v1/admin/automations", "automation.automation_id", func() any {
			return map[string]any{"name": "Conformance " + domain.NewID("n"), "events": []string{"ticket.created"}, "condition": `ticket.priority == "urgent"`,
				"actions": []any{map[string]any{"type": "set_fields", "add_tags": []string{"seen"}}}}
		}},
		"sla_policy_id": {"/api/v1/admin/sla-policies", "sla_policy.sla_policy_id", func() any {
			return map[string]any{"name": "Conformance " + domain.NewID("n"), "condition": `ticket.priority == "urgent"`,
				"targets": map[string]any{"normal": map[string]any{"first_reply": "4h"}}}
		}},
		"key_id":     {"/api/v1/admin/api-keys", "key.key_id", func() any { return map[string]any{"name": "conformance", "scopes": []string{"support.read"}} }},
		"erasure_id": {"/api/v1/admin/erasures", "erasure.erasure_id", func() any { return map[string]any{"email": "nobody@example.com"} }},
		"replay_id": {"/api/v1/admin/action-replays", "replay.replay_id", func() any {
			return map[string]any{"filter": map[string]any{"status": "failed",
				"since": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "until": time.Now().UTC().Format(time.RFC3339)}}
		}},
	}[param]
	if create.path == "" {
		t.Fatalf("no fixture for path parameter %s", param)
	}
	resp := c.do(t, req{method: "POST", path: create.path, body: create.body()})
	if resp.Status >= 300 {
		t.Fatalf("fixture %s: %d %s", param, resp.Status, resp.Body)
	}
	var v any
	resp.decode(t, &v)
	for _, k := range strings.Split(create.field, ".") {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	id, _ := v.(string)
	if id == "" {
		t.Fatalf("fixture %s: no %s in %s", param, create.field, resp.Body)
	}
	return id
}

// call is one request of an operation, with its path parameters given.
type call struct {
	path   map[string]string
	query  url.Values
	header map[string]string
	body   any
}

func (c *conformance) send(t *testing.T, method, tmpl string, k call) *response {
	t.Helper()
	p := tmpl
	for name, v := range k.path {
		p = strings.ReplaceAll(p, "{"+name+"}", url.PathEscape(v))
	}
	if len(k.query) > 0 {
		p += "?" + k.query.Encode()
	}
	return c.do(t, req{method: method, path: p, body: k.body, header: k.header})
}

func (c *conformance) operation(t *testing.T, method, path string, item *openapi3.PathItem, op *openapi3.Operation) {
	params := append(slices.Clone(item.Parameters), op.Parameters...)
	var body *openapi3.Schema
	if op.RequestBody != nil && op.RequestBody.Value != nil {
		if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil {
			body = mt.Schema.Value
		}
	}
	documented := func(status int) bool { return op.Responses.Status(status) != nil }
	accepted := func(t *testing.T, what string, resp *response) {
		t.Helper()
		ok := resp.Status >= 200 && resp.Status < 300 ||
			(resp.Status == http.StatusNotFound || resp.Status == http.StatusConflict) && documented(resp.Status)
		if !ok {
			t.Errorf("%s: a valid request (%s) answered %d: %s", method+" "+path, what, resp.Status, resp.Body)
		}
	}
	fresh := func() map[string]string {
		m := map[string]string{}
		for _, p := range params {
			if p.Value.In == "path" {
				m[p.Value.Name] = c.fixture(t, p.Value.Name)
			}
		}
		return m
	}
	shared := map[string]string{}
	for _, p := range params {
		if p.Value.In == "path" {
			shared[p.Value.Name] = c.shared[p.Value.Name]
		}
	}

	// Valid: the required fields only, then every field, with random choices.
	var base any
	if body != nil {
		for i := range 4 {
			b := c.gen(body, "", i > 0)
			resp := c.send(t, method, path, call{path: fresh(), body: b})
			accepted(t, fmt.Sprintf("body %s", mustJSON(b)), resp)
			if base == nil || (i > 0 && resp.Status < 300) {
				base = b
			}
		}
	} else {
		accepted(t, "no parameters", c.send(t, method, path, call{path: fresh()}))
	}
	// Valid: each parameter alone, at its bounds and in between.
	for _, p := range params {
		pv := p.Value
		if pv.In == "path" || pv.Schema == nil || pv.Name == "page_token" || pv.Name == "Prefer" {
			continue
		}
		for _, v := range c.validParams(pv.Schema.Value, pv.Name) {
			if pv.Name == headerIdempotencyKey {
				// Each request its own key: a short random one can repeat one sent with
				// another body, which is rightly refused (the idempotency tests cover that).
				c.keys++
				v = fmt.Sprintf("%s-%d", v, c.keys)
			}
			k := call{path: fresh(), body: base}
			c.place(&k, pv, v)
			accepted(t, pv.In+" "+pv.Name+"="+v, c.send(t, method, path, k))
		}
	}
	// Valid: ids that do not exist are the documented 404.
	for _, p := range params {
		if p.Value.In == "path" && documented(http.StatusNotFound) {
			k := call{path: maps(shared, p.Value.Name, c.madeUpID(p.Value)), body: base}
			if resp := c.send(t, method, path, k); resp.Status != http.StatusNotFound {
				t.Errorf("%s with a made-up %s: %d, want 404: %s", method+" "+path, p.Value.Name, resp.Status, resp.Body)
			}
		}
	}

	// Invalid: from every constraint, 400 naming the field, and nothing changed.
	before := c.fingerprint(t)
	refused := func(what, param string, k call) {
		t.Helper()
		resp := c.send(t, method, path, k)
		if resp.Status != http.StatusBadRequest {
			t.Errorf("%s: %s answered %d, want 400 naming %q: %s", method+" "+path, what, resp.Status, param, resp.Body)
			return
		}
		if d := resp.apiError(t); d.Param != param || d.Type != typeInvalidRequest {
			t.Errorf("%s: %s: 400 %s param %q, want %s param %q (%s)", method+" "+path, what, d.Type, d.Param, typeInvalidRequest, param, d.Message)
		}
	}
	for _, p := range params {
		pv := p.Value
		// Prefer is a preference: RFC 7240 has a server ignore what it does not understand.
		if pv.In == "path" || pv.Schema == nil || pv.Name == "Prefer" {
			continue
		}
		for _, v := range c.invalidParams(pv.Schema.Value) {
			k := call{path: shared, body: base}
			c.place(&k, pv, v)
			refused(fmt.Sprintf("%s %s=%q", pv.In, pv.Name, v), pv.Name, k)
		}
	}
	if body != nil {
		for _, m := range c.mutations(body, base, nil) {
			b := m.apply(base)
			refused(fmt.Sprintf("%s (body %s)", m.why, mustJSON(b)), m.param(), call{path: shared, body: b})
		}
	}
	if after := c.fingerprint(t); after != before {
		t.Errorf("%s: refused requests changed the tenant's data:\nbefore %s\nafter  %s", method+" "+path, before, after)
	}
}

// madeUpID returns an id of a path parameter's form that names nothing: from the
// parameter's pattern, else the prefix of an existing one.
func (c *conformance) madeUpID(p *openapi3.Parameter) string {
	if s := resolved(p.Schema.Value); s.Pattern != "" {
		if v, ok := samplePattern(s.Pattern, int(s.MinLength), 64, c.rng); ok {
			return v
		}
	}
	prefix, _, _ := strings.Cut(c.shared[p.Name], "_")
	return domain.NewID(prefix)
}

func maps(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for kk, vv := range m {
		if kk != k {
			out[kk] = vv
		}
	}
	return out
}

// place puts a parameter's value where the document says it goes.
func (c *conformance) place(k *call, p *openapi3.Parameter, v string) {
	switch p.In {
	case "query":
		if k.query == nil {
			k.query = url.Values{}
		}
		k.query.Set(p.Name, v)
	case "header":
		if k.header == nil {
			k.header = map[string]string{}
		}
		k.header[p.Name] = v
	}
}

// otherMethods: a method the document does not list for a path is 405, with Allow
// listing the ones it does.
func (c *conformance) otherMethods(t *testing.T, path string, item *openapi3.PathItem) {
	var want []string
	for _, m := range []string{"GET", "POST", "PATCH", "DELETE", "PUT"} {
		if item.GetOperation(m) != nil {
			want = append(want, m)
		}
	}
	p := path
	for name, id := range c.shared {
		p = strings.ReplaceAll(p, "{"+name+"}", id)
	}
	for _, m := range []string{"GET", "POST", "PATCH", "DELETE", "PUT"} {
		if slices.Contains(want, m) {
			continue
		}
		resp := c.do(t, req{method: m, path: p})
		allow := slices.DeleteFunc(strings.Split(strings.ReplaceAll(resp.Header.Get("Allow"), " ", ""), ","),
			func(m string) bool { return m == "HEAD" }) // a GET route answers HEAD too
		slices.Sort(allow)
		slices.Sort(want)
		if resp.Status != http.StatusMethodNotAllowed || !slices.Equal(allow, want) {
			t.Errorf("%s %s: %d with Allow %q, want 405 with Allow %v: %s", m, path, resp.Status, resp.Header.Get("Allow"), want, resp.Body)
		}
	}
}

// fingerprint sums what the tenant has stored: every row's count and transaction ids, in
// every table with a tenant_id (keys aside: using one records its last use).
func (c *conformance) fingerprint(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	var tables []string
	if err := c.e.store.DB().NewRaw(`SELECT table_name FROM information_schema.columns
		WHERE table_schema = 'public' AND column_name = 'tenant_id' AND table_name <> 'api_keys' ORDER BY table_name`).Scan(ctx, &tables); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, table := range tables {
		var s string
		if err := c.e.store.DB().NewRaw(fmt.Sprintf(`SELECT count(*)::text || '/' || coalesce(sum(xmin::text::bigint), 0)::text FROM %q WHERE tenant_id = ?`, table), c.tenant).Scan(ctx, &s); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s=%s ", table, s)
	}
	return b.String()
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// resolved is a schema with a lone allOf branch folded in: the document writes a
// described or nullable reference as allOf: [$ref].
func resolved(s *openapi3.Schema) *openapi3.Schema {
	for s != nil && len(s.AllOf) == 1 && (s.Type == nil || s.Type.IsEmpty() || len(s.Properties) == 0) {
		inner := *s.AllOf[0].Value
		inner.Nullable = inner.Nullable || s.Nullable
		if inner.Description == "" {
			inner.Description = s.Description
		}
		s = &inner
	}
	return s
}

func typeOf(s *openapi3.Schema) string {
	if s.Type == nil || s.Type.IsEmpty() {
		if len(s.Properties) > 0 {
			return "object"
		}
		return ""
	}
	return s.Type.Slice()[0]
}

// gen returns a random value the schema accepts: its example, default or enum when it
// has one, else one built from its type and constraints. full includes every optional
// property of objects, not just the required ones.
func (c *conformance) gen(s *openapi3.Schema, name string, full bool) any {
	s = resolved(s)
	if v, ok := semantic[name]; ok && typeOf(s) == "string" {
		return v
	}
	if id, ok := c.shared[name]; ok {
		return id
	}
	switch {
	case s.Example != nil:
		return s.Example
	case len(s.Enum) > 0:
		return s.Enum[c.rng.IntN(len(s.Enum))]
	case s.Default != nil:
		return s.Default
	case len(s.OneOf) > 0:
		return c.gen(s.OneOf[c.rng.IntN(len(s.OneOf))].Value, name, full)
	case len(s.AnyOf) > 0:
		return c.gen(s.AnyOf[c.rng.IntN(len(s.AnyOf))].Value, name, full)
	}
	switch typeOf(s) {
	case "string":
		return c.genString(s)
	case "integer", "number":
		lo, hi := 1.0, 100.0
		if s.Min != nil {
			lo = *s.Min
		}
		if s.Max != nil {
			hi = *s.Max
		}
		if hi < lo {
			hi = lo
		}
		return int(lo) + c.rng.IntN(int(hi-lo)+1)
	case "boolean":
		return c.rng.IntN(2) == 0
	case "array":
		n := max(int(s.MinItems), 1)
		if s.MaxItems != nil {
			n = min(n, int(*s.MaxItems))
		}
		out := []any{}
		for tries := 0; len(out) < n && tries < 20; tries++ {
			v := c.gen(s.Items.Value, name, full)
			if !s.UniqueItems || !slices.ContainsFunc(out, func(o any) bool { return mustJSON(o) == mustJSON(v) }) {
				out = append(out, v)
			}
		}
		return out
	case "object", "":
		names := make([]string, 0, len(s.Properties))
		for k := range s.Properties {
			names = append(names, k)
		}
		slices.Sort(names)
		build := func(include func(k string) bool) map[string]any {
			out := map[string]any{}
			for _, k := range names {
				if slices.Contains(s.Required, k) || include(k) {
					out[k] = c.gen(s.Properties[k].Value, k, full)
				}
			}
			if ap := s.AdditionalProperties.Schema; ap != nil && len(out) < max(int(s.MinProps), 1) {
				out["x-conformance"] = c.gen(ap.Value, "", full)
			}
			return out
		}
		out := build(func(string) bool { return full })
		// Rules across fields (minProperties, and a `not` such as "exactly one of
		// condition and automation_id") can refuse that choice of optional fields: make
		// other choices, as a client would, until the document accepts one.
		for tries := 0; tries < 50 && !accepts(s, out); tries++ {
			out = build(func(string) bool { return c.rng.IntN(2) == 0 })
		}
		return out
	}
	return nil
}

// accepts reports whether the schema accepts v as a JSON decoder would have read it.
func accepts(s *openapi3.Schema, v any) bool {
	var decoded any
	if err := json.Unmarshal([]byte(mustFullJSON(v)), &decoded); err != nil {
		return false
	}
	return s.VisitJSON(decoded) == nil
}

func (c *conformance) genString(s *openapi3.Schema) string {
	switch s.Format {
	case "date-time":
		return time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
	case "email":
		return "ada@example.com"
	case "uri", "url":
		return "https://example.com/conformance"
	}
	lo := int(s.MinLength)
	hi := lo + 12
	if s.MaxLength != nil {
		hi = min(hi, int(*s.MaxLength))
	}
	if s.Pattern != "" {
		if v, ok := samplePattern(s.Pattern, lo, hi, c.rng); ok {
			return v
		}
		return "no sample for " + s.Pattern
	}
	n := max(lo, 1) + c.rng.IntN(max(hi-max(lo, 1), 0)+1)
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[c.rng.IntN(len(letters))]
	}
	return string(b)
}

// validParams returns values a parameter's schema accepts: its bounds and a random one.
func (c *conformance) validParams(s *openapi3.Schema, name string) []string {
	s = resolved(s)
	var out []string
	switch {
	case len(s.Enum) > 0:
		for _, v := range s.Enum {
			out = append(out, fmt.Sprint(v))
		}
		return out
	case typeOf(s) == "integer":
		if s.Min != nil {
			out = append(out, strconv.Itoa(int(*s.Min)))
		}
		if s.Max != nil {
			out = append(out, strconv.Itoa(int(*s.Max)))
		}
	}
	if v := c.gen(s, name, false); v != nil {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

// invalidParams returns values a parameter's schema refuses: empty, blank, and one per
// constraint.
func (c *conformance) invalidParams(s *openapi3.Schema) []string {
	s = resolved(s)
	out := []string{"", " "}
	switch typeOf(s) {
	case "integer":
		out = append(out, "ten", "1.5")
		if s.Min != nil {
			out = append(out, strconv.Itoa(int(*s.Min)-1))
		}
		if s.Max != nil {
			out = append(out, strconv.Itoa(int(*s.Max)+1))
		}
	case "boolean":
		out = append(out, "maybe")
	case "string":
		if len(s.Enum) > 0 {
			out = append(out, "not_a_listed_value")
		}
		if s.MaxLength != nil {
			out = append(out, strings.Repeat("k", int(*s.MaxLength)+1))
		}
		if s.Format == "date-time" {
			out = append(out, "yesterday")
		}
		if s.Pattern != "" {
			if v, ok := violatePattern(s.Pattern); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

// mutation is one invalid change of a valid body: set the value at at (or remove it),
// which the server must refuse naming at.
type mutation struct {
	at     []pathStep
	value  any
	remove bool
	why    string
}

func (m mutation) param() string { return paramPath("", m.at) }

// apply returns a copy of body with the mutation made.
func (m mutation) apply(body any) any {
	var cp any
	_ = json.Unmarshal([]byte(mustFullJSON(body)), &cp)
	if len(m.at) == 0 {
		return m.value
	}
	parent := cp
	for _, s := range m.at[:len(m.at)-1] {
		parent = child(parent, s)
	}
	last := m.at[len(m.at)-1]
	switch p := parent.(type) {
	case map[string]any:
		if m.remove {
			delete(p, last.key)
		} else {
			p[last.key] = m.value
		}
	case []any:
		if last.index < len(p) {
			p[last.index] = m.value
		}
	}
	return cp
}

func mustFullJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func child(v any, s pathStep) any {
	switch p := v.(type) {
	case map[string]any:
		return p[s.key]
	case []any:
		if s.index < len(p) {
			return p[s.index]
		}
	}
	return nil
}

func at(path []pathStep, s pathStep) []pathStep { return append(slices.Clone(path), s) }

// mutations lists, for value v of schema s at path, one invalid change per constraint,
// recursing into objects and arrays.
func (c *conformance) mutations(s *openapi3.Schema, v any, path []pathStep) []mutation {
	s = resolved(s)
	var out []mutation
	add := func(value any, why string) {
		// A value the schema accepts after all (null where a branch allows it, a string
		// for a value of any kind) is no violation.
		if !accepts(s, value) {
			out = append(out, mutation{at: path, value: value, why: why})
		}
	}
	if len(path) > 0 && !s.Nullable {
		add(nil, "null")
	}
	if len(s.OneOf) > 0 {
		// The branch v was made from: its discriminator, or the first that accepts it.
		for _, b := range s.OneOf {
			if b.Value.VisitJSON(v) == nil {
				return append(out, c.mutations(b.Value, v, path)...)
			}
		}
		return out
	}
	switch typeOf(s) {
	case "string":
		add(12345, "a number for a string")
		if len(s.Enum) > 0 {
			add("not_a_listed_value", "a value outside the enum")
			add("", "an empty value for an enum")
		}
		if s.MinLength > 0 {
			add(strings.Repeat("a", int(s.MinLength)-1), "shorter than minLength")
		}
		if s.MaxLength != nil && *s.MaxLength < bodyLimit/2 { // longer ones are the body limit's 413
			add(strings.Repeat("a", int(*s.MaxLength)+1), "longer than maxLength")
		}
		if s.Pattern != "" {
			if bad, ok := violatePattern(s.Pattern); ok {
				add(bad, "outside the pattern")
			}
		}
		switch s.Format {
		case "email":
			add("not an email", "not an email")
		case "date-time":
			add("yesterday", "not a date-time")
		case "uri", "url":
			add("not a url", "not a URL")
		}
	case "integer", "number":
		add("ten", "a string for a number")
		if typeOf(s) == "integer" {
			add(1.5, "a fraction for an integer")
		}
		if s.Min != nil {
			add(*s.Min-1, "below minimum")
		}
		if s.Max != nil {
			add(*s.Max+1, "above maximum")
		}
	case "boolean":
		add("yes", "a string for a boolean")
	case "array":
		add("x", "a string for an array")
		items, _ := v.([]any)
		if s.MinItems > 0 {
			add(items[:s.MinItems-1], "fewer items than minItems")
		}
		if s.MaxItems != nil && s.Items != nil {
			long := slices.Clone(items)
			for tries := 0; len(long) <= int(*s.MaxItems) && tries < 10*int(*s.MaxItems); tries++ {
				v := c.gen(s.Items.Value, "", true)
				if !slices.ContainsFunc(long, func(o any) bool { return mustJSON(o) == mustJSON(v) }) {
					long = append(long, v) // distinct, so that no server-side dedup makes it valid
				}
			}
			if len(long) > int(*s.MaxItems) {
				add(long, "more items than maxItems")
			}
		}
		if s.UniqueItems && len(items) > 0 {
			add(append(slices.Clone(items), items[0]), "a repeated item")
		}
		if len(items) > 0 && s.Items != nil {
			out = append(out, c.mutations(s.Items.Value, items[0], at(path, pathStep{index: 0}))...)
		}
	case "object", "":
		obj, _ := v.(map[string]any)
		if len(path) > 0 {
			add("x", "a string for an object")
		}
		if s.MinProps > 0 {
			add(map[string]any{}, "fewer properties than minProperties")
		}
		for _, k := range s.Required {
			if _, ok := obj[k]; ok {
				out = append(out, mutation{at: at(path, pathStep{key: k, index: -1}), remove: true, why: "required field left out"})
			}
		}
		if s.AdditionalProperties.Has != nil && !*s.AdditionalProperties.Has {
			out = append(out, mutation{at: at(path, pathStep{key: "not_a_field", index: -1}), value: 1, why: "an unknown field"})
		}
		names := make([]string, 0, len(s.Properties))
		for k := range s.Properties {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			pv, ok := obj[k]
			if !ok {
				pv = c.gen(s.Properties[k].Value, k, true)
				// A field this body may not have at all (automation_id beside a condition)
				// cannot be tested on it: any value would break two rules at once.
				with := map[string]any{k: pv}
				for kk, vv := range obj {
					with[kk] = vv
				}
				if obj != nil && !accepts(s, with) {
					continue
				}
			}
			where := at(path, pathStep{key: k, index: -1})
			for _, m := range c.mutations(s.Properties[k].Value, pv, where) {
				// Inside a field the body leaves out there is nothing to change.
				if ok || len(m.at) == len(where) {
					out = append(out, m)
				}
			}
		}
		if ap := s.AdditionalProperties.Schema; ap != nil {
			for k, pv := range obj {
				out = append(out, c.mutations(ap.Value, pv, at(path, pathStep{key: k, index: -1}))...)
				break
			}
		}
	}
	return out
}

// samplePattern returns a random string of lo to hi characters that pattern matches.
func samplePattern(pattern string, lo, hi int, rng *rand.Rand) (string, bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return "", false
	}
	check := regexp.MustCompile(pattern)
	for range 50 {
		var b strings.Builder
		sampleRegexp(re, rng, &b)
		s := b.String()
		if n := len([]rune(s)); n >= lo && n <= hi && check.MatchString(s) {
			return s, true
		}
	}
	return "", false
}

func sampleRegexp(re *syntax.Regexp, rng *rand.Rand, b *strings.Builder) {
	repeat := func(lo, hi int) {
		if hi < 0 {
			hi = lo + 3
		}
		for range lo + rng.IntN(hi-lo+1) {
			sampleRegexp(re.Sub[0], rng, b)
		}
	}
	switch re.Op {
	case syntax.OpLiteral:
		b.WriteString(string(re.Rune))
	case syntax.OpCharClass:
		b.WriteRune(sampleClass(re.Rune, rng))
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		b.WriteByte('a')
	case syntax.OpCapture:
		sampleRegexp(re.Sub[0], rng, b)
	case syntax.OpStar:
		repeat(0, 3)
	case syntax.OpPlus:
		repeat(1, 4)
	case syntax.OpQuest:
		repeat(0, 1)
	case syntax.OpRepeat:
		repeat(re.Min, re.Max)
	case syntax.OpConcat:
		for _, s := range re.Sub {
			sampleRegexp(s, rng, b)
		}
	case syntax.OpAlternate:
		sampleRegexp(re.Sub[rng.IntN(len(re.Sub))], rng, b)
	}
}

// sampleClass picks a rune of a character class, a plain letter or digit where it has one.
func sampleClass(ranges []rune, rng *rand.Rand) rune {
	var plain []rune
	for r := rune('0'); r <= 'z'; r++ {
		if (r <= '9' || r >= 'a' || (r >= 'A' && r <= 'Z')) && inClass(ranges, r) {
			plain = append(plain, r)
		}
	}
	if len(plain) > 0 {
		return plain[rng.IntN(len(plain))]
	}
	i := rng.IntN(len(ranges) / 2)
	return ranges[2*i] + rune(rng.IntN(int(ranges[2*i+1]-ranges[2*i])+1))
}

func inClass(ranges []rune, r rune) bool {
	for i := 0; i+1 < len(ranges); i += 2 {
		if r >= ranges[i] && r <= ranges[i+1] {
			return true
		}
	}
	return false
}

// violatePattern returns a non-empty string pattern does not match.
func violatePattern(pattern string) (string, bool) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return "", false
	}
	for _, s := range []string{"line\nbreak", "tab\there", "\u0007bell", "not valid!", "Ünïcödé", "-", "UPPER", "a"} {
		if !re.MatchString(s) {
			return s, true
		}
	}
	return "", false
}

// checkNullables: OAS 3.0.3 honours nullable only beside a type in the same schema, and an
// allOf, oneOf or anyOf branch that refuses null refuses it for the whole schema, so
// validators such as Prism refuse the null the document meant to allow.
func checkNullables(t *testing.T, doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(where string, s *openapi3.Schema)
	walk = func(where string, s *openapi3.Schema) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		if s.Nullable {
			if s.Type == nil || s.Type.IsEmpty() {
				t.Errorf("%s: nullable without a type is not honoured", where)
			}
			for _, b := range s.AllOf {
				if b.Value.VisitJSON(nil) != nil {
					t.Errorf("%s: nullable, but its allOf branch %s refuses null", where, b.Ref)
				}
			}
			for _, group := range []openapi3.SchemaRefs{s.OneOf, s.AnyOf} {
				if len(group) > 0 && !slices.ContainsFunc(group, func(b *openapi3.SchemaRef) bool { return b.Value.VisitJSON(nil) == nil }) {
					t.Errorf("%s: nullable, but none of its oneOf/anyOf branches accepts null", where)
				}
			}
		}
		for k, p := range s.Properties {
			walk(where+"."+k, p.Value)
		}
		if s.Items != nil {
			walk(where+"[]", s.Items.Value)
		}
		if s.AdditionalProperties.Schema != nil {
			walk(where+".*", s.AdditionalProperties.Schema.Value)
		}
		for _, group := range []openapi3.SchemaRefs{s.AllOf, s.OneOf, s.AnyOf} {
			for _, b := range group {
				walk(where, b.Value)
			}
		}
	}
	for name, s := range doc.Components.Schemas {
		walk(name, s.Value)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code, r := range op.Responses.Map() {
				for _, mt := range r.Value.Content {
					if mt.Schema != nil {
						walk(fmt.Sprintf("%s %s %s", method, path, code), mt.Schema.Value)
					}
				}
			}
			if op.RequestBody != nil {
				for _, mt := range op.RequestBody.Value.Content {
					if mt.Schema != nil {
						walk(fmt.Sprintf("%s %s body", method, path), mt.Schema.Value)
					}
				}
			}
		}
	}
}
