package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/threada/threada/internal/domain"
)

// exampleAutomation is the example: escalate urgent VIPs.
func exampleAutomation() map[string]any {
	return map[string]any{
		"name": "Escalate urgent VIPs", "enabled": true, "events": []string{"ticket.created", "ticket.updated"},
		"condition": `ticket.priority == "urgent" && "vip" in ticket.tags`,
		"actions": []any{
			map[string]any{"type": "custom_http", "method": "POST", "url": "/hooks/pager",
				"headers": map[string]string{"X-Source": "threada"}, "body_json": `{"ticket": "{{ ticket.ticket_id }}"}`},
			map[string]any{"type": "set_fields", "add_tags": []string{"escalated"}},
		},
	}
}

// exampleAutomationWith is the example changed by mod.
func exampleAutomationWith(mod func(b map[string]any)) map[string]any {
	b := exampleAutomation()
	mod(b)
	return b
}

type automationJSON struct {
	AutomationID string           `json:"automation_id"`
	TenantID     string           `json:"tenant_id"`
	Name         string           `json:"name"`
	Enabled      bool             `json:"enabled"`
	Events       []string         `json:"events"`
	Condition    string           `json:"condition"`
	Actions      []map[string]any `json:"actions"`
	Position     int              `json:"position"`
	Version      int              `json:"version"`
}

func decodeAutomation(t *testing.T, resp *response) automationJSON {
	t.Helper()
	var env struct{ Automation automationJSON }
	resp.decode(t, &env)
	return env.Automation
}

// adminKey returns a key with the automations scope for the fixture's tenant.
func (e *testEnv) adminKey(f actionFixture) string {
	e.t.Helper()
	return e.newKey(f.tenant, domain.ScopeAdminAutomations)
}

func (e *testEnv) newAutomation(f actionFixture, body any) string {
	e.t.Helper()
	resp := e.do(req{method: "POST", path: "/api/v1/admin/automations", key: e.adminKey(f), body: body})
	if resp.Status != http.StatusCreated {
		e.t.Fatalf("create automation: %d %s", resp.Status, resp.Body)
	}
	return decodeAutomation(e.t, resp).AutomationID
}

func TestAutomationCRUD(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com")
	key := e.adminKey(f)
	resp := e.do(req{method: "POST", path: "/api/v1/admin/automations", key: key, body: exampleAutomation()})
	if resp.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.Status, resp.Body)
	}
	a := decodeAutomation(t, resp)
	if !strings.HasPrefix(a.AutomationID, "aut_") || a.TenantID != f.tenant || a.Version != 1 || !a.Enabled || a.Position != 0 ||
		a.Name != "Escalate urgent VIPs" || len(a.Actions) != 2 || a.Actions[0]["body_json"] != `{"ticket": "{{ ticket.ticket_id }}"}` {
		t.Errorf("created %+v", a)
	}
	path := "/api/v1/admin/automations/" + a.AutomationID
	if got := decodeAutomation(t, e.do(req{method: "GET", path: path, key: key})); got.AutomationID != a.AutomationID || got.Version != 1 {
		t.Errorf("get %+v", got)
	}

	resp = e.do(req{method: "PATCH", path: path, key: key, body: map[string]any{"enabled": false, "condition": `ticket.priority == "urgent"`}})
	if u := decodeAutomation(t, resp); resp.Status != 200 || u.Enabled || u.Version != 2 || u.Condition != `ticket.priority == "urgent"` || u.Name != a.Name {
		t.Errorf("patch: %d %+v", resp.Status, u)
	}
	// A refused patch changes nothing, not even the version.
	wantError(t, e.do(req{method: "PATCH", path: path, key: key, body: map[string]any{"condition": "ticket.priority =="}}), 400, "invalid_request_error", "condition")
	if got := decodeAutomation(t, e.do(req{method: "GET", path: path, key: key})); got.Version != 2 {
		t.Errorf("version after a refused patch: %d", got.Version)
	}

	// More automations go last; the list pages in position order.
	for i := 0; i < 4; i++ {
		body := exampleAutomation()
		body["name"] = fmt.Sprintf("rule %d", i)
		e.newAutomation(f, body)
	}
	var names []string
	token := ""
	for {
		p := "/api/v1/admin/automations?limit=2"
		if token != "" {
			p += "&page_token=" + url.QueryEscape(token)
		}
		var page listJSON[automationJSON]
		e.do(req{method: "GET", path: p, key: key}).decode(t, &page)
		for _, it := range page.Items {
			names = append(names, fmt.Sprintf("%s@%d", it.Name, it.Position))
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	if want := "[Escalate urgent VIPs@0 rule 0@1 rule 1@2 rule 2@3 rule 3@4]"; fmt.Sprint(names) != want {
		t.Errorf("list %v, want %s", names, want)
	}

	resp = e.do(req{method: "DELETE", path: path, key: key})
	if d := decodeAutomation(t, resp); resp.Status != 200 || d.AutomationID != a.AutomationID {
		t.Errorf("delete: %d %+v", resp.Status, d)
	}
	wantError(t, e.do(req{method: "GET", path: path, key: key}), 404, "not_found_error", "")
}

func TestAutomationValidation(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com")
	noBase := e.actionFixture("")
	with := exampleAutomationWith
	for _, tc := range []struct {
		name  string
		f     actionFixture
		body  any
		param string
		msg   string
	}{
		{"syntax error", f, with(func(b map[string]any) { b["condition"] = `ticket.priority == "urgent" &&` }), "condition", "line 1, column"},
		{"second line", f, with(func(b map[string]any) { b["condition"] = "ticket.status == \"open\" &&\n  ticket.oops" }), "condition", "line 2, column 10"},
		{"not boolean", f, with(func(b map[string]any) { b["condition"] = `ticket.subject` }), "condition", "boolean"},
		{"too long", f, with(func(b map[string]any) { b["condition"] = strings.Repeat("true && ", 300) + "true" }), "condition", "2000"},
		{"no events", f, with(func(b map[string]any) { b["events"] = []string{} }), "events", ""},
		{"unknown event", f, with(func(b map[string]any) { b["events"] = []string{"ticket.deleted"} }), "events[0]", ""},
		{"missing name", f, with(func(b map[string]any) { delete(b, "name") }), "name", ""},
		{"no actions", f, with(func(b map[string]any) { b["actions"] = []any{} }), "actions", ""},
		{"unknown action type", f, with(func(b map[string]any) { b["actions"] = []any{map[string]any{"type": "send_email"}} }), "actions[0].type", ""},
		{"field of another type", f, with(func(b map[string]any) {
			b["actions"] = []any{map[string]any{"type": "set_fields", "status": "solved", "url": "/x"}}
		}), "actions[0].url", ""},
		{"bad status", f, with(func(b map[string]any) { b["actions"] = []any{map[string]any{"type": "set_fields", "status": "done"}} }), "actions[0].status", ""},
		{"bad template", f, with(func(b map[string]any) {
			b["actions"] = []any{map[string]any{"type": "custom_http", "method": "POST", "url": "/x", "body_json": `{"a": "{{ ticket.nope }}"}`}}
		}), "actions[0].body_json", "ticket has no field nope"},
		{"body not JSON once filled", f, with(func(b map[string]any) {
			b["actions"] = []any{map[string]any{"type": "custom_http", "method": "POST", "url": "/x", "body_json": `{"a": {{ ticket.status }}`}}
		}), "actions[0].body_json", "valid JSON"},
		{"relative url without base", noBase, exampleAutomation(), "actions[0].url", "base URL"},
		{"header with Host", f, with(func(b map[string]any) {
			b["actions"] = []any{map[string]any{"type": "custom_http", "method": "GET", "url": "/x", "headers": map[string]string{"Host": "evil"}}}
		}), "actions[0].headers.Host", ""},
		{"unknown field", f, with(func(b map[string]any) { b["trigger"] = "x" }), "trigger", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do(req{method: "POST", path: "/api/v1/admin/automations", key: e.adminKey(tc.f), body: tc.body})
			wantError(t, resp, http.StatusBadRequest, "invalid_request_error", tc.param)
			if msg := resp.apiError(t).Message; !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q does not contain %q", msg, tc.msg)
			}
		})
	}
	var list listJSON[automationJSON]
	e.do(req{method: "GET", path: "/api/v1/admin/automations", key: e.adminKey(f)}).decode(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("refused automations were stored: %d", len(list.Items))
	}
}

func TestAutomationTenantIsolation(t *testing.T) {
	e := newTestEnv(t)
	a := e.actionFixture("https://hooks.a.example")
	b := e.actionFixture("https://hooks.b.example")
	idA := e.newAutomation(a, exampleAutomation())
	keyB := e.adminKey(b)
	for _, r := range []req{
		{method: "GET", path: "/api/v1/admin/automations/" + idA},
		{method: "PATCH", path: "/api/v1/admin/automations/" + idA, body: map[string]any{"enabled": false}},
		{method: "DELETE", path: "/api/v1/admin/automations/" + idA},
		{method: "GET", path: "/api/v1/admin/automations/" + idA + "/runs"},
		{method: "POST", path: "/api/v1/admin/automations/test", body: map[string]any{"automation_id": idA, "ticket_id": b.ticket}},
		{method: "POST", path: "/api/v1/admin/automations/test", body: map[string]any{"condition": "true", "ticket_id": a.ticket}},
	} {
		r.key = keyB
		wantError(t, e.do(r), http.StatusNotFound, "not_found_error", "")
	}
	var list listJSON[automationJSON]
	e.do(req{method: "GET", path: "/api/v1/admin/automations", key: keyB}).decode(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("B lists A's automations")
	}
	if got := decodeAutomation(t, e.do(req{method: "GET", path: "/api/v1/admin/automations/" + idA, key: e.adminKey(a)})); !got.Enabled || got.Version != 1 {
		t.Errorf("A's automation changed: %+v", got)
	}
}

type dryRunJSON struct {
	Matched     bool             `json:"matched"`
	Actions     []map[string]any `json:"actions"`
	Error       *string          `json:"error"`
	Explanation *struct {
		Text string `json:"text"`
	} `json:"explanation"`
}

// TestDryRun evaluates without any side effect: no ticket change, event, action or run.
func TestDryRun(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com")
	key := e.adminKey(f)
	id := e.newAutomation(f, exampleAutomation())
	counts := func() string {
		return e.rowCounts("tickets", "ticket_events", "actions", "automation_runs", "messages")
	}
	before := counts()
	test := func(body map[string]any) dryRunJSON {
		t.Helper()
		resp := e.do(req{method: "POST", path: "/api/v1/admin/automations/test", key: key, body: body})
		if resp.Status != 200 {
			t.Fatalf("test: %d %s", resp.Status, resp.Body)
		}
		var out dryRunJSON
		resp.decode(t, &out)
		return out
	}

	// A saved automation against a described ticket: rendered exactly.
	out := test(map[string]any{"automation_id": id, "ticket": map[string]any{
		"ticket_id": "tkt_snapshot", "subject": `He said "now"`, "priority": "urgent", "tags": []string{"vip"}}})
	if !out.Matched || len(out.Actions) != 2 {
		t.Fatalf("dry run %+v", out)
	}
	if want := `ticket.priority == "urgent" -> true (ticket.priority = "urgent")` + "\n" + `"vip" in ticket.tags -> true (ticket.tags = ["vip"])`; out.Explanation == nil || out.Explanation.Text != want {
		t.Errorf("explanation %+v, want %q", out.Explanation, want)
	}
	r := out.Actions[0]["request"].(map[string]any)
	if r["method"] != "POST" || r["url"] != "https://hooks.example.com/hooks/pager" || r["body"] != `{"ticket": "tkt_snapshot"}` ||
		r["headers"].(map[string]any)["X-Source"] != "threada" || r["headers"].(map[string]any)["Content-Type"] != "application/json" {
		t.Errorf("rendered request %v", r)
	}
	if got := fmt.Sprint(out.Actions[1]["tags_after"]); got != "[vip escalated]" {
		t.Errorf("set_fields tags_after %s", got)
	}

	// A condition against the stored ticket, with changes making the previous state.
	out = test(map[string]any{"condition": `changed_to("status", "solved") && previous.status == "open" && ticket.subject contains "late"`,
		"ticket_id": f.ticket, "changes": map[string]any{"status": map[string]any{"from": "open", "to": "solved"}}})
	if !out.Matched || out.Error != nil {
		t.Errorf("with changes: %+v", out)
	}
	out = test(map[string]any{"condition": `ticket.priority == "urgent"`, "ticket_id": f.ticket})
	if out.Matched || len(out.Actions) != 0 {
		t.Errorf("non-matching: %+v", out)
	}
	out = test(map[string]any{"condition": `previous.status == "x"`, "ticket_id": f.ticket, "event": map[string]any{"type": "ticket.created"}})
	if out.Matched || out.Error == nil {
		t.Errorf("runtime error: %+v", out)
	}
	out = test(map[string]any{"condition": `message.content contains "refund"`, "ticket_id": f.ticket,
		"event": map[string]any{"type": "message.created"}, "message": map[string]any{"content": "I want a refund"}})
	if !out.Matched {
		t.Errorf("message event: %+v", out)
	}
	for _, body := range []map[string]any{
		{"ticket_id": f.ticket},
		{"condition": "true", "automation_id": id, "ticket_id": f.ticket},
		{"condition": "true"},
		{"condition": "ticket.nope", "ticket_id": f.ticket},
	} {
		wantError(t, e.do(req{method: "POST", path: "/api/v1/admin/automations/test", key: key, body: body}), 400, "invalid_request_error", "")
	}
	// Fields of the body are checked as fields: an id of another shape and an empty enum
	// are 400s naming them (a path id of another shape is a 404; these are not paths).
	for param, body := range map[string]map[string]any{
		"ticket_id":       {"condition": "true", "ticket_id": "tkt_nope"},
		"automation_id":   {"automation_id": "aut_nope", "ticket_id": f.ticket},
		"ticket.status":   {"condition": "true", "ticket": map[string]any{"status": ""}},
		"ticket.priority": {"condition": "true", "ticket": map[string]any{"priority": " "}},
		"event.type":      {"condition": "true", "ticket_id": f.ticket, "event": map[string]any{"type": ""}},
	} {
		wantError(t, e.do(req{method: "POST", path: "/api/v1/admin/automations/test", key: key, body: body}), 400, "invalid_request_error", param)
	}
	if after := counts(); after != before {
		t.Errorf("the dry runs changed the database: %s -> %s", before, after)
	}
}

// rowCounts counts the rows of tables, to show that a call wrote nothing.
func (e *testEnv) rowCounts(tables ...string) string {
	e.t.Helper()
	var n []int64
	for _, table := range tables {
		c, err := e.store.DB().NewSelect().Table(table).Count(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		n = append(n, c)
	}
	return fmt.Sprint(n)
}
