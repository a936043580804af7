package main

import (
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

// newRecorder serves the API on a fresh database and records what it answers.
func newRecorder(t *testing.T) (*testEnv, *recorder) {
	e := newTestEnv(t)
	return e, &recorder{e: e}
}

// send sends each body in turn and notes it with its answer.
func (g *recorder) send(key, method, path string, bodies []map[string]any) {
	g.e.t.Helper()
	for _, body := range bodies {
		resp := g.e.do(req{method: method, path: path, key: key, body: body})
		in, _ := json.Marshal(body)
		fmt.Fprintf(&g.out, "%s %s %s\n-> %d %s\n\n", method, path, in, resp.Status, resp.Body)
	}
}

// check compares the answers with testdata/simulate/name.golden.
func (g *recorder) check(name string) {
	g.e.t.Helper()
	golden.Check(g.e.t, "simulate/"+name, g.out.String())
}

// TestDryRunAnswersAreUnchanged replays TestDryRun's and TestRuleBudgetThroughTheAPI's dry
// runs.
func TestDryRunAnswersAreUnchanged(t *testing.T) {
	e, g := newRecorder(t)
	f := e.actionFixture("https://hooks.example.com")
	key := e.adminKey(f)
	id := e.newAutomation(f, exampleAutomation())
	g.send(key, "POST", "/api/v1/admin/automations/test", []map[string]any{
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
	})
	g.check("dry_run")
}

// TestBacktestAnswersAreUnchanged replays TestBacktestFindsWhatADraftWouldMatch.
func TestBacktestAnswersAreUnchanged(t *testing.T) {
	e, g := newRecorder(t)
	a, _ := e.backtestFixture()
	actions := []any{map[string]any{"type": "set_fields", "add_tags": []string{"escalated"}}}
	g.send(e.adminKey(a), "POST", "/api/v1/admin/automations/backtest", []map[string]any{
		{"events": []string{"ticket.created"}, "condition": `ticket.priority == "urgent"`, "actions": actions, "days": 1},
		{"events": []string{"ticket.created"}, "condition": `ticket.priority == "urgent" || int(ticket.subject) > 0`, "actions": []any{
			map[string]any{"type": "custom_http", "method": "POST", "url": "/hooks/{{ ticket.ticket_id }}", "body_json": `{"s": "{{ ticket.subject }}"}`},
			map[string]any{"type": "add_note", "content": "{{ ticket.subject }}"}}},
		{"events": []string{"ticket.created", "ticket.updated"}, "condition": `int(ticket.subject) > 0`, "actions": actions},
		{"events": []string{"ticket.created"}, "condition": "true", "actions": actions, "days": 31},
		{"condition": "true", "actions": actions},
		{"events": []string{"ticket.created"}, "condition": "ticket.nope", "actions": actions},
		{"events": []string{"ticket.created"}, "condition": "true", "actions": []any{map[string]any{"type": "custom_http", "method": "POST", "url": "https://evil.example.net/x"}}},
	})
	g.check("backtest")
}

// TestSLAPreviewAnswersAreUnchanged replays the SLA preview tests.
func TestSLAPreviewAnswersAreUnchanged(t *testing.T) {
	e, g := newRecorder(t)
	a, b := e.slaPreviewFixture()
	admin := e.adminKey(a)
	const path = "/api/v1/admin/sla-policies/preview"
	targets := map[string]any{"urgent": map[string]any{"first_reply": "30m", "resolution": "4h"}, "normal": map[string]any{"resolution": "24h"}}
	g.send(admin, "POST", path, []map[string]any{{"condition": `ticket.priority in ["urgent", "high"] && "vip" in ticket.tags`, "targets": targets}})
	g.send(e.adminKey(b), "POST", path, []map[string]any{{"condition": `"vip" in ticket.tags`}})
	g.send(admin, "POST", path, []map[string]any{
		{"condition": `int(ticket.subject) > 0`},
		{"targets": targets},
		{"condition": " "},
		{"condition": "ticket.nope == 1"},
		{"condition": "ticket.priority"},
		{"condition": "1 == 2"},
		{"condition": "true", "targets": map[string]any{"urgent": map[string]any{"first_reply": "soon"}}},
		{"condition": "true", "targets": map[string]any{"asap": map[string]any{"first_reply": "1h"}}},
		{"condition": "true", "name": "x"},
	})
	e.bulkTickets(a.tenant, 1000)
	g.send(admin, "POST", path, []map[string]any{{"condition": `ticket.priority == "urgent"`, "targets": targets}})
	g.check("sla_preview")
}

// TestRuleValidationAnswersAreUnchanged replays the validation of drafts and the checks of
// automations and SLA policies at save.
func TestRuleValidationAnswersAreUnchanged(t *testing.T) {
	e, g := newRecorder(t)
	f := e.actionFixture("https://hooks.example.com")
	noBase := e.actionFixture("")
	key := e.adminKey(f)
	g.send(key, "POST", "/api/v1/admin/automations/validate", []map[string]any{
		{"condition": `ticket.priority == "urgent"`, "actions": []any{map[string]any{"type": "custom_http", "method": "POST", "url": "/hooks/{{ ticket.ticket_id }}"}}},
		{"condition": "ticket.priority ==\n  ticket.nope"},
		{"condition": "1 == 2", "actions": []any{map[string]any{"type": "custom_http", "method": "POST", "url": "https://evil.example.net/x"}}},
		{"condition": "ticket.subject"},
		{"condition": `ticket.subject matches ticket.contact.name`},
		{"actions": []any{map[string]any{"type": "custom_http", "method": "POST", "url": "/x", "body_json": `{"a": {{ ticket.status }}`}}},
		{"actions": []any{map[string]any{"type": "custom_http", "method": "GET", "url": "/x", "headers": map[string]string{"Host": "evil"}}}},
		{},
	})
	with := exampleAutomationWith
	g.send(key, "POST", "/api/v1/admin/automations", []map[string]any{
		with(func(b map[string]any) { b["condition"] = `ticket.priority == "urgent" &&` }),
		with(func(b map[string]any) { b["condition"] = "ticket.status == \"open\" &&\n  ticket.oops" }),
		with(func(b map[string]any) { b["condition"] = `ticket.subject` }),
		with(func(b map[string]any) { b["condition"] = `false && ticket.nope` }),
		with(func(b map[string]any) { b["condition"] = `!true` }),
		with(func(b map[string]any) { b["condition"] = `len(sortBy(ticket.tags, #)) > 0` }),
		with(func(b map[string]any) { b["condition"] = `repeat("x", 9) != ""` }),
		with(func(b map[string]any) {
			b["actions"] = []any{map[string]any{"type": "custom_http", "method": "POST", "url": "/x", "body_json": `{"a": "{{ ticket.nope }}"}`}}
		}),
		with(func(b map[string]any) {
			b["actions"] = []any{map[string]any{"type": "custom_http", "method": "POST", "url": "/x", "body_json": `{"a": {{ ticket.status }}`}}
		}),
	})
	g.send(e.adminKey(noBase), "POST", "/api/v1/admin/automations", []map[string]any{exampleAutomation()})
	g.send(key, "POST", "/api/v1/admin/automations", []map[string]any{
		with(func(b map[string]any) {
			b["actions"] = []any{map[string]any{"type": "custom_http", "method": "GET", "url": "/x", "headers": map[string]string{"Host": "evil"}}}
		}),
		with(func(b map[string]any) {
			b["actions"] = []any{map[string]any{"type": "custom_http", "method": "GET", "url": "{{ ticket.subject }}"}}
		}),
	})
	id := e.newAutomation(f, exampleAutomation())
	g.send(key, "PATCH", "/api/v1/admin/automations/"+id, []map[string]any{
		{"condition": "1 == 2"},
		{"condition": "ticket.nope"},
		{"actions": []any{map[string]any{"type": "custom_http", "method": "POST", "url": "https://evil.example.net/x"}}},
	})
	targets := map[string]any{"urgent": map[string]any{"first_reply": "30m"}}
	g.send(key, "POST", "/api/v1/admin/sla-policies", []map[string]any{
		{"name": "x", "condition": "1 == 2", "targets": targets},
		{"name": "x", "condition": "ticket.nope", "targets": targets},
		{"name": "x", "condition": "ticket.subject", "targets": targets},
	})
	g.check("validation")
}
