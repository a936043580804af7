package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/threada/threada/internal/domain"
)

// inputFixture is a tenant with a key holding every scope, a ticket, an automation and a
// second key, so that every path of the API can be filled in.
type inputFixture struct {
	actionFixture
	automation, otherKey, slaPolicy string
}

func (e *testEnv) inputFixture() inputFixture {
	e.t.Helper()
	f := e.actionFixture("https://hooks.example.com")
	return inputFixture{
		actionFixture: f,
		automation:    e.newAutomation(f, exampleAutomation()),
		otherKey:      e.createKeyViaAPI(f.key, map[string]any{"name": "other", "scopes": []string{"support.read"}}).Key.KeyID,
		slaPolicy:     e.newSLAPolicy(f),
	}
}

func (e *testEnv) newSLAPolicy(f actionFixture) string {
	e.t.Helper()
	resp := e.do(req{method: "POST", path: "/api/v1/admin/sla-policies", key: e.adminKey(f), body: map[string]any{
		"name": "Standard", "condition": "true", "targets": map[string]any{"normal": map[string]any{"resolution": "24h"}}}})
	if resp.Status != http.StatusCreated {
		e.t.Fatalf("create SLA policy: %d %s", resp.Status, resp.Body)
	}
	var out struct {
		SLAPolicy struct {
			ID string `json:"sla_policy_id"`
		} `json:"sla_policy"`
	}
	resp.decode(e.t, &out)
	return out.SLAPolicy.ID
}

// path fills an OpenAPI path template with the fixture's records; the action does not
// exist, which the requests that use it never get far enough to notice.
func (f inputFixture) path(template string) string {
	return strings.NewReplacer("{ticket_id}", f.ticket, "{automation_id}", f.automation, "{key_id}", f.otherKey, "{sla_policy_id}", f.slaPolicy,
		"{action_id}", "act_"+strings.Repeat("0", domain.IDBodyLen)).Replace(template)
}

// TestUnknownQueryParametersAreRefused walks every operation of the OpenAPI document: a
// query parameter the endpoint does not take is a 400 naming it, bodies and ids or not.
func TestUnknownQueryParametersAreRefused(t *testing.T) {
	e := newTestEnv(t)
	f := e.inputFixture()
	doc, _ := spec(t)
	for template, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + template
			t.Run(name, func(t *testing.T) {
				r := req{method: method, path: f.path(template) + "?bogus=1", key: f.key}
				if op.RequestBody != nil {
					r.body = map[string]any{}
				}
				wantError(t, e.do(r), http.StatusBadRequest, "invalid_request_error", "bogus")
			})
		}
	}
	t.Run("a parameter given twice", func(t *testing.T) {
		resp := e.do(req{method: "GET", path: "/api/v1/public/tickets?limit=1&limit=2", key: f.key})
		wantError(t, resp, http.StatusBadRequest, "invalid_request_error", "limit")
	})
}

// TestEmptyIsNotAbsent: an empty or blank value is refused where the API could take it for
// "left out": the Idempotency-Key header, query values, optional text fields and null for
// a field that is not nullable. Nothing is created on the way.
func TestEmptyIsNotAbsent(t *testing.T) {
	e := newTestEnv(t)
	f := e.inputFixture()
	for _, ikey := range []string{"", " ", "\t"} {
		for range 3 {
			resp := e.do(req{method: "POST", path: "/api/v1/public/tickets", key: f.key, body: map[string]any{"subject": "Once"},
				header: map[string]string{"Idempotency-Key": ikey}})
			wantError(t, resp, http.StatusBadRequest, "invalid_request_error", "Idempotency-Key")
		}
	}
	var list listJSON[struct{ Summary struct{ Subject string } }]
	e.do(req{method: "GET", path: "/api/v1/public/tickets?limit=100", key: f.key}).decode(t, &list)
	for _, it := range list.Items {
		if it.Summary.Subject == "Once" {
			t.Fatal("a POST with an empty Idempotency-Key created a ticket")
		}
	}
	admin := e.newKey(f.tenant, domain.AllScopes...)
	for _, q := range []struct{ path, param string }{
		{"/api/v1/public/tickets?page_token=", "page_token"},
		{"/api/v1/public/tickets?tag=", "tag"},
		{"/api/v1/public/tickets?tag=%20", "tag"},
		{"/api/v1/admin/automations?limit=", "limit"},
		{"/api/v1/admin/actions?automation_id=", "automation_id"},
		{"/api/v1/admin/audit-events?actor=", "actor"},
		{"/api/v1/admin/audit-events?action=", "action"},
		{"/api/v1/admin/audit-events?target=", "target"},
	} {
		wantError(t, e.do(req{method: "GET", path: q.path, key: admin}), http.StatusBadRequest, "invalid_request_error", q.param)
	}
	for _, b := range []struct {
		method, path string
		body         map[string]any
		param        string
	}{
		{"PATCH", "/api/v1/admin/settings", map[string]any{"rate_limits": nil}, "rate_limits"},
		{"PATCH", "/api/v1/public/tickets/" + f.ticket, map[string]any{"subject": nil}, "subject"},
		{"POST", "/api/v1/public/tickets", map[string]any{"subject": "s", "channel": ""}, "channel"},
		{"POST", "/api/v1/public/tickets", map[string]any{"subject": "s", "contact": map[string]any{"email": ""}}, "contact.email"},
		{"POST", "/api/v1/admin/automations", map[string]any{"name": "n", "events": []string{"ticket.created"}, "condition": "true",
			"actions": []any{map[string]any{"type": "set_fields", "add_tags": []string{"x"}, "content": ""}}}, "actions[0].content"},
		{"POST", "/api/v1/admin/automations/backtest", map[string]any{"events": []string{"ticket.created"}, "condition": "true",
			"actions": []any{map[string]any{"type": "add_note", "content": "hi", "url": ""}}}, "actions[0].url"},
		{"POST", "/api/v1/public/tickets/" + f.ticket + "/messages", map[string]any{"content": "c", "external_message_id": ""}, "external_message_id"},
		{"POST", "/api/v1/public/tickets/" + f.ticket + "/messages", map[string]any{"content": "c", "role": " "}, "role"},
	} {
		wantError(t, e.do(req{method: b.method, path: b.path, key: admin, body: b.body}), http.StatusBadRequest, "invalid_request_error", b.param)
	}
}

// TestPostOnlyRoutesRefuseOtherMethods: a literal path beside a parameter one
// (automations/backtest beside automations/{automation_id}) is 405 for other methods, with
// Allow, not a 404 for an automation called "backtest".
func TestPostOnlyRoutesRefuseOtherMethods(t *testing.T) {
	e := newTestEnv(t)
	f := e.inputFixture()
	for _, p := range []string{"/api/v1/admin/automations/test", "/api/v1/admin/automations/backtest",
		"/api/v1/admin/automations/validate", "/api/v1/admin/sla-policies/preview"} {
		for _, m := range []string{"GET", "PATCH", "DELETE", "PUT"} {
			resp := e.do(req{method: m, path: p, key: f.key})
			wantError(t, resp, http.StatusMethodNotAllowed, "invalid_request_error", "")
			if got := resp.Header.Get("Allow"); got != "POST" {
				t.Errorf("%s %s: Allow %q, want POST", m, p, got)
			}
		}
	}
	resp := e.do(req{method: "PUT", path: "/api/v1/public/tickets/" + f.ticket, key: f.key})
	allow := strings.Split(resp.Header.Get("Allow"), ", ")
	slices.Sort(allow)
	if resp.Status != http.StatusMethodNotAllowed || strings.Join(allow, ",") != "DELETE,GET,HEAD,PATCH" {
		t.Errorf("PUT a ticket: %d with Allow %q", resp.Status, resp.Header.Get("Allow"))
	}
}

// TestStrictJSON: encoding/json keeps the last of two equal keys and matches field names
// without regard to case; both are refused, at any depth and on every endpoint with a body.
func TestStrictJSON(t *testing.T) {
	e := newTestEnv(t)
	f := e.inputFixture()
	ticket := "/api/v1/public/tickets/" + f.ticket
	deep := `1`
	for range maxJSONDepth + 1 {
		deep = `[` + deep + `]`
	}
	for _, tc := range []struct {
		name, method, path, body, param, msg string
	}{
		{"duplicate field", "POST", "/api/v1/public/tickets", `{"subject": "a", "subject": "b"}`, "subject", "more than once"},
		{"field in another case", "POST", "/api/v1/public/tickets", `{"Subject": "a"}`, "Subject", "did you mean `subject`"},
		{"both cases", "POST", "/api/v1/public/tickets", `{"subject": "a", "SUBJECT": "b"}`, "SUBJECT", "did you mean `subject`"},
		{"Unicode case folding", "POST", "/api/v1/public/tickets", `{"ſubject": "a"}`, "ſubject", "did you mean `subject`"},
		{"duplicate in a nested object", "POST", "/api/v1/public/tickets", `{"subject": "a", "contact": {"name": "x", "name": "y"}}`, "contact.name", ""},
		{"case in a nested object", "POST", "/api/v1/public/tickets", `{"subject": "a", "initial_message": {"Content": "x"}}`, "initial_message.Content", ""},
		{"case in a patched contact", "PATCH", ticket, `{"contact": {"Email": "a@example.com"}}`, "contact.Email", ""},
		{"duplicate in a patch", "PATCH", ticket, `{"tags": ["a"], "tags": ["b"]}`, "tags", ""},
		{"message", "POST", ticket + "/messages", `{"content": "x", "Role": "agent"}`, "Role", ""},
		{"action payload", "POST", ticket + "/actions", `{"payload": {"type": "custom_http", "method": "POST", "url": "/x", "URL": "/y"}}`, "payload.URL", ""},
		{"duplicate header", "POST", ticket + "/actions", `{"payload": {"type": "custom_http", "method": "POST", "url": "/x", "headers": {"X-A": "1", "X-A": "2"}}}`, "payload.headers.X-A", ""},
		{"automation action in an array", "POST", "/api/v1/admin/automations",
			`{"name": "n", "events": ["ticket.created"], "condition": "true", "actions": [{"type": "add_note", "content": "x"}, {"type": "set_fields", "Add_Tags": ["a"]}]}`,
			"actions[1].Add_Tags", ""},
		{"automation update", "PATCH", "/api/v1/admin/automations/" + f.automation, `{"name": "a", "Name": "b"}`, "Name", ""},
		{"dry run ticket", "POST", "/api/v1/admin/automations/test", `{"condition": "true", "ticket": {"subject": "s", "subject": "t"}}`, "ticket.subject", ""},
		{"dry run nesting", "POST", "/api/v1/admin/automations/test", `{"condition": "true", "ticket_id": "` + f.ticket + `", "changes": {"status": {"from": ` + deep + `}}}`, "changes.status.from" + strings.Repeat("[0]", maxJSONDepth-3), "levels"},
		{"key", "POST", "/api/v1/admin/api-keys", `{"name": "k", "scopes": ["support.read"], "Scopes": []}`, "Scopes", ""},
		{"key rotation", "POST", "/api/v1/admin/api-keys/" + f.otherKey + "/rotate", `{"grace_period_seconds": 0, "grace_period_seconds": 1}`, "grace_period_seconds", ""},
		{"settings", "PATCH", "/api/v1/admin/settings", `{"rate_limits": {"key_rps": 5, "KEY_RPS": 6}}`, "rate_limits.KEY_RPS", ""},
		{"settings duplicate", "PATCH", "/api/v1/admin/settings", `{"action_defaults": {"timeout_ms": 1000, "timeout_ms": 2000}}`, "action_defaults.timeout_ms", ""},
		{"signing secret", "POST", "/api/v1/admin/settings/signing-secret/rotate", `{"overlap_seconds": 1, "overlap_seconds": 2}`, "overlap_seconds", ""},
		{"not UTF-8", "POST", "/api/v1/public/tickets", "{\"subject\": \"caf\xe9\"}", "", "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do(req{method: tc.method, path: tc.path, key: f.key, body: tc.body})
			wantError(t, resp, http.StatusBadRequest, "invalid_request_error", tc.param)
			if d := resp.apiError(t); d.Param != tc.param || !strings.Contains(d.Message, tc.msg) {
				t.Errorf("param %q, message %q; want %q and a message containing %q", d.Param, d.Message, tc.param, tc.msg)
			}
		})
	}
	var list listJSON[map[string]any]
	e.do(req{method: "GET", path: "/api/v1/public/tickets", key: f.key}).decode(t, &list)
	if len(list.Items) != 1 {
		t.Errorf("refused bodies created tickets: %d listed", len(list.Items))
	}
}

// pageToken forges a page_token: tokens are not signed, so a client can send any.
func pageToken(kind, scope string, micros int64, id string) string {
	data, _ := json.Marshal(pageCursor{Version: 1, Kind: kind, Scope: scope, Micros: micros, ID: id})
	return url.QueryEscape(base64.RawURLEncoding.EncodeToString(data))
}

// TestValuesTheDatabaseCannotStore: NUL, invalid UTF-8, times outside years 1-9999 and forged page
// tokens were 500s; each is a 400 naming its parameter.
func TestValuesTheDatabaseCannotStore(t *testing.T) {
	e := newTestEnv(t)
	f := e.inputFixture()
	ticket := "/api/v1/public/tickets/" + f.ticket
	tickets := scopeOf("", "", "", "")
	automation := func(action string) string {
		return `{"name": "n", "events": ["ticket.created"], "condition": "true", "actions": [` + action + `]}`
	}
	for _, tc := range []struct {
		name, method, path, body, param string
	}{
		{"NUL in a tag filter", "GET", "/api/v1/public/tickets?tag=%00", "", "tag"},
		{"invalid UTF-8 in a tag filter", "GET", "/api/v1/public/tickets?tag=%ff", "", "tag"},
		{"a tag filter no tag can match", "GET", "/api/v1/public/tickets?tag=two%20words", "", "tag"},
		{"NUL in an audit actor", "GET", "/api/v1/admin/audit-events?actor=%00", "", "actor"},
		{"NUL in an audit target", "GET", "/api/v1/admin/audit-events?target=a%00", "", "target"},
		{"invalid UTF-8 in an audit action", "GET", "/api/v1/admin/audit-events?action=%c3", "", "action"},
		{"year 0", "GET", "/api/v1/admin/audit-events?since=0000-01-01T00:00:00Z", "", "since"},
		{"year 1 that is year 0 in UTC", "GET", "/api/v1/admin/audit-events?since=0001-01-01T00:00:00%2B01:00", "", "since"},
		{"year 9999 that is year 10000 in UTC", "GET", "/api/v1/admin/audit-events?until=9999-12-31T23:59:59-23:00", "", "until"},
		{"token before year 1", "GET", "/api/v1/public/tickets?page_token=" + pageToken("tickets", tickets, -1<<63, f.ticket), "", "page_token"},
		{"token after year 9999", "GET", "/api/v1/public/tickets?page_token=" + pageToken("tickets", tickets, 1<<62, f.ticket), "", "page_token"},
		{"token with NUL in its id", "GET", "/api/v1/public/tickets?page_token=" + pageToken("tickets", tickets, 0, "tkt_\x00"), "", "page_token"},
		{"token with a position and no id", "GET", "/api/v1/admin/automations?page_token=" + pageToken("automations", f.tenant, 1, "x\x00"), "", "page_token"},
		{"NUL in a message", "POST", ticket + "/messages", `{"content": "a\u0000"}`, "content"},
		{"NUL in a field name", "POST", "/api/v1/public/tickets", `{"subject": "a", "x\u0000": 1}`, "x\x00"},
		{"NUL in a note", "POST", "/api/v1/admin/automations", automation(`{"type": "add_note", "content": "x\u0000"}`), "actions[0].content"},
		{"NUL in a condition", "POST", "/api/v1/admin/automations", `{"name": "n", "events": ["ticket.created"], "condition": "true || \"\u0000\" == \"\"", "actions": [{"type": "add_note", "content": "x"}]}`, "condition"},
		{"expiry in year 10000 UTC", "POST", "/api/v1/admin/api-keys", `{"name": "a", "scopes": ["support.read"], "expires_at": "9999-12-31T23:59:59-23:00"}`, "expires_at"},
		{"expiry that is not a time", "POST", "/api/v1/admin/api-keys", `{"name": "a", "scopes": ["support.read"], "expires_at": "tomorrow"}`, "expires_at"},
		{"NUL in an allowed host", "PATCH", "/api/v1/admin/settings", `{"allowed_hosts": ["a\u0000.example"]}`, "allowed_hosts[0]"},
		{"an overlap that overflows", "POST", "/api/v1/admin/settings/signing-secret/rotate", `{"overlap_seconds": 9223372036854775807}`, "overlap_seconds"},
		{"NUL in a dry run's actor", "POST", "/api/v1/admin/automations/test", `{"condition": "true", "ticket_id": "` + f.ticket + `", "event": {"actor": "\u0000"}}`, "event.actor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req{method: tc.method, path: tc.path, key: f.key}
			if tc.body != "" {
				r.body = tc.body
			}
			resp := e.do(r)
			wantError(t, resp, http.StatusBadRequest, "invalid_request_error", "")
			if d := resp.apiError(t); d.Param != tc.param {
				t.Errorf("param %q, want %q (%s)", d.Param, tc.param, d.Message)
			}
		})
	}
	if logs := e.logs.String(); strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("refused input was logged as an internal error:\n%s", logs)
	}
}

// TestAutomationsThatCouldNeverRun: a condition that folds to false and a note without
// content are refused when saved rather than stored to do nothing.
func TestAutomationsThatCouldNeverRun(t *testing.T) {
	e := newTestEnv(t)
	f := e.inputFixture()
	with := func(condition string, action map[string]any) map[string]any {
		return map[string]any{"name": "n", "events": []string{"ticket.created"}, "condition": condition, "actions": []any{action}}
	}
	note := map[string]any{"type": "add_note", "content": "hello"}
	for _, tc := range []struct {
		name  string
		body  map[string]any
		param string
	}{
		{"false", with("false", note), "condition"},
		{"folds to false", with(`ticket.status == "open" && 1 == 2`, note), "condition"},
		{"not true", with("!true", note), "condition"},
		{"empty note", with("true", map[string]any{"type": "add_note", "content": ""}), "actions[0].content"},
		{"blank note", with("true", map[string]any{"type": "add_note", "content": " \n\t"}), "actions[0].content"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do(req{method: "POST", path: "/api/v1/admin/automations", key: f.key, body: tc.body})
			wantError(t, resp, http.StatusBadRequest, "invalid_request_error", tc.param)
		})
	}
	path := "/api/v1/admin/automations/" + f.automation
	wantError(t, e.do(req{method: "PATCH", path: path, key: f.key, body: map[string]any{"condition": "false"}}),
		http.StatusBadRequest, "invalid_request_error", "condition")
	// A condition false for most tickets is fine: only one false for every ticket is refused.
	if resp := e.do(req{method: "PATCH", path: path, key: f.key, body: map[string]any{"condition": `ticket.status == "closed" && !("vip" in ticket.tags)`}}); resp.Status != http.StatusOK {
		t.Errorf("a real condition: %d %s", resp.Status, resp.Body)
	}
}

// TestResponsesEchoWhatIsStored: what a create or update answers, normalized values
// included, is what a later read returns.
func TestResponsesEchoWhatIsStored(t *testing.T) {
	e := newTestEnv(t)
	f := e.inputFixture()
	object := func(resp *response, field string) any {
		t.Helper()
		var env map[string]any
		resp.decode(t, &env)
		return env[field]
	}
	for _, tc := range []struct {
		name, field string
		write       req
		read        func(created any) string
	}{
		{"ticket", "ticket", req{method: "POST", path: "/api/v1/public/tickets", body: map[string]any{
			"subject": "  Padded  ", "tags": []string{"vip", "vip", "b"}, "contact": map[string]any{"name": " Ann ", "email": " ann@example.com "},
			"initial_message": map[string]any{"content": "  hello  "},
		}}, func(created any) string {
			return "/api/v1/public/tickets/" + created.(map[string]any)["summary"].(map[string]any)["ticket_id"].(string)
		}},
		{"automation", "automation", req{method: "POST", path: "/api/v1/admin/automations", body: map[string]any{
			"name": "  Padded  ", "events": []string{"ticket.created", "ticket.created"}, "condition": "  true  ",
			"actions": []any{map[string]any{"type": "set_fields", "add_tags": []string{"vip", "vip"}}, map[string]any{"type": "add_note", "content": "  x  "}},
		}}, func(created any) string {
			return "/api/v1/admin/automations/" + created.(map[string]any)["automation_id"].(string)
		}},
		{"automation update", "automation", req{method: "PATCH", path: "/api/v1/admin/automations/" + f.automation, body: map[string]any{
			"name": " Renamed ", "events": []string{"ticket.updated", "ticket.updated"},
		}}, func(any) string { return "/api/v1/admin/automations/" + f.automation }},
		{"key", "key", req{method: "POST", path: "/api/v1/admin/api-keys", body: map[string]any{"name": "  Padded  ", "scopes": []string{"support.read", "support.read"}}},
			func(created any) string {
				return "/api/v1/admin/api-keys/" + created.(map[string]any)["key_id"].(string)
			}},
		{"settings", "settings", req{method: "PATCH", path: "/api/v1/admin/settings", body: map[string]any{
			"allowed_hosts": []string{" Hooks.Example.com ", "hooks.example.com"}, "actions_base_url": "https://hooks.example.com/base",
		}}, func(any) string { return "/api/v1/admin/settings" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.write.key = f.key
			resp := e.do(tc.write)
			if resp.Status >= 300 {
				t.Fatalf("%d %s", resp.Status, resp.Body)
			}
			written := object(resp, tc.field)
			read := object(e.do(req{method: "GET", path: tc.read(written), key: f.key}), tc.field)
			if !reflect.DeepEqual(written, read) {
				t.Errorf("answered %v\nbut stored %v", written, read)
			}
			if strings.Contains(string(resp.Body), "Padded ") || strings.Contains(string(resp.Body), `"vip","vip"`) {
				t.Errorf("a padded value was echoed untrimmed: %s", resp.Body)
			}
		})
	}
}

// TestEscapedNULTextRoundTrips: the text \u0000 (a backslash, not a NUL) is ordinary text:
// stored in rows and jsonb documents alike (the ticket, its event, the audit record) and
// echoed back exactly.
func TestEscapedNULTextRoundTrips(t *testing.T) {
	e := newTestEnv(t)
	f := e.inputFixture()
	text := `see C:\u0000 and "\\u0000" and it's fine`
	resp := e.do(req{method: "POST", path: "/api/v1/public/tickets", key: f.key, body: map[string]any{
		"subject": text, "initial_message": map[string]any{"content": text}}})
	if resp.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.Status, resp.Body)
	}
	var tk ticketJSON
	resp.decode(t, &tk)
	if tk.Ticket.Summary.Subject != text {
		t.Errorf("echoed %q, want %q", tk.Ticket.Summary.Subject, text)
	}
	var again ticketJSON
	e.do(req{method: "GET", path: "/api/v1/public/tickets/" + tk.Ticket.Summary.TicketID, key: f.key}).decode(t, &again)
	if again.Ticket.Summary.Subject != text {
		t.Errorf("stored %q, want %q", again.Ticket.Summary.Subject, text)
	}
	var payload string
	if err := e.store.DB().NewRaw("SELECT payload->'ticket'->>'Subject' FROM ticket_events WHERE ticket_id = ?", tk.Ticket.Summary.TicketID).Scan(context.Background(), &payload); err != nil || payload != text {
		t.Errorf("event payload %q (%v), want %q", payload, err, text)
	}
}
