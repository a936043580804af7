package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/threada/threada/internal/golden"
)

// The dry run, backtest, SLA preview and validation answer admins with text they read
// (explanations, rendered requests, error messages), so moving their code must not change
// a byte of it. These tests replay the requests of the existing tests on the same fixtures
// and compare the whole answers with the ones recorded in testdata/simulate (see package
// golden).

// recorder notes requests and their answers.
type recorder struct {
	e   *testEnv
	out strings.Builder
}

// do sends a request and notes it with its answer.
func (g *recorder) do(key string, method, path string, body any) *response {
	g.e.t.Helper()
	resp := g.e.do(req{method: method, path: path, key: key, body: body})
	in, _ := json.Marshal(body)
	fmt.Fprintf(&g.out, "%s %s %s\n-> %d %s\n\n", method, path, in, resp.Status, resp.Body)
	return resp
}

// check compares the answers with testdata/simulate/name.golden.
func (g *recorder) check(name string) {
	g.e.t.Helper()
	golden.Check(g.e.t, "simulate/"+name, g.out.String())
}

// TestDryRunAnswersAreUnchanged replays TestDryRun's and TestRuleBudgetThroughTheAPI's dry
// runs.
func TestDryRunAnswersAreUnchanged(t *testing.T) {
	e := newTestEnv(t)
	g := &recorder{e: e}
	f := e.actionFixture("https://hooks.example.com")
	key := e.adminKey(f)
	id := e.newAutomation(f, exampleAutomation())
	const path = "/api/v1/admin/automations/test"
	for _, body := range []map[string]any{
		{"automation_id": id, "ticket": map[string]any{"ticket_id": "tkt_snapshot", "subject": `He said "now"`, "priority": "urgent", "tags": []string{"vip"}}},
		{"condition": `changed_to("status", "solved") && previous.status == "open" && ticket.subject contains "late"`,
			"ticket_id": f.ticket, "changes": map[string]any{"status": map[string]any{"from": "open", "to": "solved"}}},
		{"condition": `ticket.priority == "urgent"`, "ticket_id": f.ticket},
		{"condition": `previous.status == "x"`, "ticket_id": f.ticket, "event": map[string]any{"type": "ticket.created"}},
		{"condition": `message.content contains "refund"`, "ticket_id": f.ticket,
			"event": map[string]any{"type": "message.created"}, "message": map[string]any{"content": "I want a refund"}},
		{"condition": `ticket.priority == "urgent" && "vip" in ticket.tags || has_tag("returns")`, "ticket": map[string]any{"subject": "s", "tags": []string{"returns"}},
			"actions": []any{
				map[string]any{"type": "custom_http", "method": "POST", "url": "/hooks/{{ ticket.ticket_id }}?s={{ ticket.subject }}",
					"headers": map[string]string{"X-Tags": "{{ ticket.priority }}-{{ len(ticket.tags) }}"}, "body_json": `{"n": {{ ticket.message_count }}}`},
				map[string]any{"type": "set_fields", "status": "pending", "remove_tags": []string{"returns"}},
				map[string]any{"type": "add_note", "content": "Seen: {{ ticket.subject }}"},
				map[string]any{"type": "custom_http", "method": "POST", "url": "https://elsewhere.example/x"},
			}},
		{"condition": `any(1..9000, {any(1..9000, {# < 0})})`, "ticket_id": f.ticket},
		{"ticket_id": f.ticket},
		{"condition": "true", "automation_id": id, "ticket_id": f.ticket},
		{"condition": "true"},
		{"condition": "ticket.nope", "ticket_id": f.ticket},
		{"condition": "true", "ticket_id": "tkt_nope"},
		{"automation_id": "aut_nope", "ticket_id": f.ticket},
		{"automation_id": "aut_00000000000000000000000000", "ticket_id": f.ticket},
		{"automation_id": id, "ticket_id": f.ticket, "actions": []any{}},
		{"condition": "true", "ticket": map[string]any{"priority": "soon"}},
		{"condition": "true", "ticket": map[string]any{"message_count": -1}},
		{"condition": "true", "ticket_id": f.ticket, "changes": map[string]any{"channel": map[string]any{"from": "a", "to": "b"}}},
		{"condition": "true", "ticket_id": f.ticket, "event": map[string]any{"type": "ticket.deleted"}},
		{"condition": "true", "ticket_id": f.ticket, "actions": []any{map[string]any{"type": "send_email"}}},
	} {
		g.do(key, "POST", path, body)
	}
	g.check("dry_run")
}

// TestBacktestAnswersAreUnchanged replays TestBacktestFindsWhatADraftWouldMatch.
func TestBacktestAnswersAreUnchanged(t *testing.T) {
	e := newTestEnv(t)
	g := &recorder{e: e}
	a := e.actionFixture("https://hooks.example.com")
	b := e.actionFixture("https://hooks.example.com")
	for i, p := range []string{"urgent", "normal", "urgent", "low", "urgent"} {
		e.mustTicket(a.key, map[string]any{"subject": fmt.Sprint("A ", i), "priority": p})
	}
	e.mustTicket(b.key, map[string]any{"subject": "B", "priority": "urgent"})
	key := e.adminKey(a)
	const path = "/api/v1/admin/automations/backtest"
	actions := []any{map[string]any{"type": "set_fields", "add_tags": []string{"escalated"}}}
	for _, body := range []map[string]any{
		{"events": []string{"ticket.created"}, "condition": `ticket.priority == "urgent"`, "actions": actions, "days": 1},
		{"events": []string{"ticket.created"}, "condition": `ticket.priority == "urgent" || int(ticket.subject) > 0`, "actions": []any{
			map[string]any{"type": "custom_http", "method": "POST", "url": "/hooks/{{ ticket.ticket_id }}", "body_json": `{"s": "{{ ticket.subject }}"}`},
			map[string]any{"type": "add_note", "content": "{{ ticket.subject }}"}}},
		{"events": []string{"ticket.created", "ticket.updated"}, "condition": `int(ticket.subject) > 0`, "actions": actions},
		{"events": []string{"ticket.created"}, "condition": "true", "actions": actions, "days": 31},
		{"condition": "true", "actions": actions},
		{"events": []string{"ticket.created"}, "condition": "ticket.nope", "actions": actions},
		{"events": []string{"ticket.created"}, "condition": "true", "actions": []any{map[string]any{"type": "custom_http", "method": "POST", "url": "https://evil.example.net/x"}}},
	} {
		g.do(key, "POST", path, body)
	}
	g.check("backtest")
}

// TestSLAPreviewAnswersAreUnchanged replays the SLA preview tests.
func TestSLAPreviewAnswersAreUnchanged(t *testing.T) {
	e := newTestEnv(t)
	g := &recorder{e: e}
	a := e.actionFixture("https://hooks.example.com")
	b := e.actionFixture("https://hooks.example.com")
	for i, p := range []string{"urgent", "normal", "urgent", "low", "high"} {
		e.mustTicket(a.key, map[string]any{"subject": fmt.Sprint("A ", i), "priority": p, "tags": []string{"vip"}})
	}
	for range 3 {
		e.mustTicket(b.key, map[string]any{"subject": "B", "priority": "urgent", "tags": []string{"vip"}})
	}
	admin := e.adminKey(a)
	const path = "/api/v1/admin/sla-policies/preview"
	targets := map[string]any{"urgent": map[string]any{"first_reply": "30m", "resolution": "4h"}, "normal": map[string]any{"resolution": "24h"}}
	for _, c := range []struct {
		key  string
		body map[string]any
	}{
		{admin, map[string]any{"condition": `ticket.priority in ["urgent", "high"] && "vip" in ticket.tags`, "targets": targets}},
		{e.adminKey(b), map[string]any{"condition": `"vip" in ticket.tags`}},
		{admin, map[string]any{"condition": `int(ticket.subject) > 0`}},
		{admin, map[string]any{"targets": targets}},
		{admin, map[string]any{"condition": " "}},
		{admin, map[string]any{"condition": "ticket.nope == 1"}},
		{admin, map[string]any{"condition": "ticket.priority"}},
		{admin, map[string]any{"condition": "1 == 2"}},
		{admin, map[string]any{"condition": "true", "targets": map[string]any{"urgent": map[string]any{"first_reply": "soon"}}}},
		{admin, map[string]any{"condition": "true", "targets": map[string]any{"asap": map[string]any{"first_reply": "1h"}}}},
		{admin, map[string]any{"condition": "true", "name": "x"}},
	} {
		g.do(c.key, "POST", path, c.body)
	}
	_, err := e.store.DB().NewRaw(`INSERT INTO tickets (id, tenant_id, subject, status, priority, channel, created_at, updated_at, last_message_at)
		SELECT 'tkt_bulk' || lpad(i::text, 6, '0'), ?, 'bulk ' || i, 'open', CASE WHEN i % 2 = 0 THEN 'urgent' ELSE 'low' END, 'email',
		       now() - interval '1 day', now() - interval '1 day', now() - interval '1 day' - i * interval '1 second'
		FROM generate_series(1, 1000) AS i`, a.tenant).Exec(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g.do(admin, "POST", path, map[string]any{"condition": `ticket.priority == "urgent"`, "targets": targets})
	g.check("sla_preview")
}

// TestRuleValidationAnswersAreUnchanged replays the validation of drafts and the checks of
// automations and SLA policies at save.
func TestRuleValidationAnswersAreUnchanged(t *testing.T) {
	e := newTestEnv(t)
	g := &recorder{e: e}
	f := e.actionFixture("https://hooks.example.com")
	noBase := e.actionFixture("")
	key := e.adminKey(f)
	for _, body := range []map[string]any{
		{"condition": `ticket.priority == "urgent"`, "actions": []any{map[string]any{"type": "custom_http", "method": "POST", "url": "/hooks/{{ ticket.ticket_id }}"}}},
		{"condition": "ticket.priority ==\n  ticket.nope"},
		{"condition": "1 == 2", "actions": []any{map[string]any{"type": "custom_http", "method": "POST", "url": "https://evil.example.net/x"}}},
		{"condition": "ticket.subject"},
		{"condition": `ticket.subject matches ticket.contact.name`},
		{"actions": []any{map[string]any{"type": "custom_http", "method": "POST", "url": "/x", "body_json": `{"a": {{ ticket.status }}`}}},
		{"actions": []any{map[string]any{"type": "custom_http", "method": "GET", "url": "/x", "headers": map[string]string{"Host": "evil"}}}},
		{},
	} {
		g.do(key, "POST", "/api/v1/admin/automations/validate", body)
	}
	with := func(mod func(b map[string]any)) map[string]any {
		b := exampleAutomation()
		mod(b)
		return b
	}
	for _, c := range []struct {
		key  string
		body map[string]any
	}{
		{key, with(func(b map[string]any) { b["condition"] = `ticket.priority == "urgent" &&` })},
		{key, with(func(b map[string]any) { b["condition"] = "ticket.status == \"open\" &&\n  ticket.oops" })},
		{key, with(func(b map[string]any) { b["condition"] = `ticket.subject` })},
		{key, with(func(b map[string]any) { b["condition"] = `false && ticket.nope` })},
		{key, with(func(b map[string]any) { b["condition"] = `!true` })},
		{key, with(func(b map[string]any) { b["condition"] = `len(sortBy(ticket.tags, #)) > 0` })},
		{key, with(func(b map[string]any) { b["condition"] = `repeat("x", 9) != ""` })},
		{key, with(func(b map[string]any) {
			b["actions"] = []any{map[string]any{"type": "custom_http", "method": "POST", "url": "/x", "body_json": `{"a": "{{ ticket.nope }}"}`}}
		})},
		{key, with(func(b map[string]any) {
			b["actions"] = []any{map[string]any{"type": "custom_http", "method": "POST", "url": "/x", "body_json": `{"a": {{ ticket.status }}`}}
		})},
		{e.adminKey(noBase), exampleAutomation()},
		{key, with(func(b map[string]any) {
			b["actions"] = []any{map[string]any{"type": "custom_http", "method": "GET", "url": "/x", "headers": map[string]string{"Host": "evil"}}}
		})},
		{key, with(func(b map[string]any) {
			b["actions"] = []any{map[string]any{"type": "custom_http", "method": "GET", "url": "{{ ticket.subject }}"}}
		})},
	} {
		g.do(c.key, "POST", "/api/v1/admin/automations", c.body)
	}
	id := e.newAutomation(f, exampleAutomation())
	for _, body := range []map[string]any{
		{"condition": "1 == 2"},
		{"condition": "ticket.nope"},
		{"actions": []any{map[string]any{"type": "custom_http", "method": "POST", "url": "https://evil.example.net/x"}}},
	} {
		g.do(key, "PATCH", "/api/v1/admin/automations/"+id, body)
	}
	targets := map[string]any{"urgent": map[string]any{"first_reply": "30m"}}
	for _, body := range []map[string]any{
		{"name": "x", "condition": "1 == 2", "targets": targets},
		{"name": "x", "condition": "ticket.nope", "targets": targets},
		{"name": "x", "condition": "ticket.subject", "targets": targets},
	} {
		g.do(key, "POST", "/api/v1/admin/sla-policies", body)
	}
	g.check("validation")
}
