package main

import (
	"fmt"
	"net/http"
	"testing"
)

// backtestFixture is two tenants with a fixture ticket each; a has five more tickets
// (priorities urgent, normal, urgent, low, urgent), b one more, urgent.
func (e *testEnv) backtestFixture() (a, b actionFixture) {
	e.t.Helper()
	a = e.actionFixture("https://hooks.example.com")
	b = e.actionFixture("https://hooks.example.com")
	for i, p := range []string{"urgent", "normal", "urgent", "low", "urgent"} {
		e.mustTicket(a.key, map[string]any{"subject": fmt.Sprint("A ", i), "priority": p})
	}
	e.mustTicket(b.key, map[string]any{"subject": "B", "priority": "urgent"})
	return a, b
}

// TestBacktestFindsWhatADraftWouldMatch: a draft run against the tenant's past events
// counts what it would have matched (never another tenant's events), shows the newest
// matches with their explanation and actions, and writes nothing.
func TestBacktestFindsWhatADraftWouldMatch(t *testing.T) {
	e := newTestEnv(t)
	a, _ := e.backtestFixture()
	counts := func() string {
		return e.rowCounts("tickets", "ticket_events", "actions", "automation_runs", "automations")
	}
	before := counts()
	body := map[string]any{"events": []string{"ticket.created"}, "condition": `ticket.priority == "urgent"`,
		"actions": []any{map[string]any{"type": "set_fields", "add_tags": []string{"escalated"}}}, "days": 1}
	resp := e.do(req{method: "POST", path: "/api/v1/admin/automations/backtest", key: e.adminKey(a), body: body})
	if resp.Status != http.StatusOK {
		t.Fatalf("backtest: %d %s", resp.Status, resp.Body)
	}
	var out struct {
		Evaluated, Matched int
		Complete           bool
		Samples            []struct {
			TicketID    string `json:"ticket_id"`
			Explanation struct {
				Text string `json:"text"`
			} `json:"explanation"`
			Actions []map[string]any `json:"actions"`
		} `json:"samples"`
	}
	resp.decode(t, &out)
	if out.Evaluated != 6 || out.Matched != 3 || !out.Complete || len(out.Samples) != 3 {
		// a's fixture ticket and its five tickets; b's are not a's
		t.Fatalf("backtest: %+v", out)
	}
	if s := out.Samples[0]; s.Explanation.Text != `ticket.priority == "urgent" -> true (ticket.priority = "urgent")` ||
		len(s.Actions) != 1 || fmt.Sprint(s.Actions[0]["tags_after"]) != "[escalated]" {
		t.Errorf("sample: %+v", s)
	}
	if after := counts(); after != before {
		t.Errorf("the backtest wrote something: %s -> %s", before, after)
	}
	for _, bad := range []struct {
		body  map[string]any
		param string
	}{
		{map[string]any{"events": []string{"ticket.created"}, "condition": "true", "actions": body["actions"], "days": 31}, "days"},
		{map[string]any{"condition": "true", "actions": body["actions"]}, "events"},
		{map[string]any{"events": []string{"ticket.created"}, "condition": "ticket.nope", "actions": body["actions"]}, "condition"},
	} {
		wantError(t, e.do(req{method: "POST", path: "/api/v1/admin/automations/backtest", key: e.adminKey(a), body: bad.body}), 400, "invalid_request_error", bad.param)
	}
}
