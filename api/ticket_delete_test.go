package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/threada/threada/internal/automations"
	"github.com/threada/threada/internal/domain"
)

// ticketTables are the tables that hold a ticket's rows, each with the tenant's id.
var ticketTables = []string{"tickets", "messages", "actions", "action_attempts", "ticket_events", "automation_runs", "ticket_timers", "ticket_slas"}

// tenantRows counts each of ticketTables' rows of a tenant.
func (e *testEnv) tenantRows(tenantID string) string {
	e.t.Helper()
	var out []string
	for _, table := range ticketTables {
		n, err := e.store.DB().NewSelect().Table(table).Where("tenant_id = ?", tenantID).Count(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s=%d", table, n))
	}
	return strings.Join(out, " ")
}

// ticketRows counts the rows anywhere that belong to ticketID.
func (e *testEnv) ticketRows(ticketID string) int {
	e.t.Helper()
	total := 0
	for _, table := range ticketTables {
		q := e.store.DB().NewSelect().Table(table)
		switch table {
		case "tickets":
			q = q.Where("id = ?", ticketID)
		case "action_attempts":
			q = q.Where("action_id LIKE 'act_%' AND action_id IN (SELECT id FROM actions WHERE ticket_id = ?)", ticketID)
		default:
			q = q.Where("ticket_id = ?", ticketID)
		}
		n, err := q.Count(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		total += int(n)
	}
	return total
}

// TestDeleteTicketRemovesItsRowsOnly: a ticket with messages, events, a rule's runs, SLA
// clocks and timers, a finished action and one whose call is in flight is deleted in one
// request: every row about it goes, the running action's workflow ends without recording
// anything, an audit row keeps the counts without the content, and nothing of another
// ticket or tenant changes. Another tenant's key gets 404 and changes nothing; so does a
// repeat.
func TestDeleteTicketRemovesItsRowsOnly(t *testing.T) {
	e, tc := newActionEnv(t)
	rc := newHeldReceiver(t, "/slow")
	a, b := e.actionFixture(rc.URL), e.actionFixture(rc.URL)
	ctx := context.Background()
	engine := &automations.Engine{Store: e.store, Log: slog.New(slog.DiscardHandler),
		Start: func(ctx context.Context, act *domain.Action) { _ = e.srv.actions.Start(ctx, act) }}
	doomed := map[string]string{}
	for _, f := range []actionFixture{a, b} {
		e.newSLAPolicy(f)
		e.newAutomation(f, map[string]any{"name": "tag new", "events": []string{"ticket.created"}, "condition": "true",
			"actions": []any{map[string]any{"type": "set_fields", "add_tags": []string{"seen"}}}})
		id := e.mustTicket(f.key, map[string]any{"subject": "Secret subject " + f.tenant, "contact": map[string]any{"email": "ada@example.com"},
			"initial_message": map[string]any{"role": "user", "content": "my card number is in here"}}).Ticket.Summary.TicketID
		doomed[f.tenant] = id
		if resp := e.do(req{method: "POST", path: "/api/v1/public/tickets/" + id + "/messages", key: f.key,
			body: map[string]any{"role": "agent", "content": "on it"}}); resp.Status != http.StatusCreated {
			t.Fatalf("message: %d %s", resp.Status, resp.Body)
		}
		engine.Drain(ctx)
		g := actionFixture{tenant: f.tenant, key: f.key, ticket: id}
		if act := decodeAction(t, e.postAction(g, referenceAction(), map[string]string{"Prefer": "wait=20"})); act.Status != "succeeded" {
			t.Fatalf("finished action: %+v", act)
		}
	}
	slow := map[string]any{"payload": map[string]any{"type": "custom_http", "method": "POST", "url": "/slow"}}
	inFlight := decodeAction(t, e.postAction(actionFixture{tenant: a.tenant, key: a.key, ticket: doomed[a.tenant]}, slow, nil))
	rc.waitHeld(t, 1)

	target := doomed[a.tenant]
	if n := e.ticketRows(target); n < 12 {
		t.Fatalf("the ticket to delete has only %d rows; the fixture is not what the test means", n)
	}
	beforeB, beforeA := e.tenantRows(b.tenant), e.ticketRows(a.ticket)

	// Another tenant's key cannot see it, let alone delete it.
	wantError(t, e.do(req{method: "DELETE", path: "/api/v1/public/tickets/" + target, key: b.key}), http.StatusNotFound, "not_found_error", "")
	resp := e.do(req{method: "DELETE", path: "/api/v1/public/tickets/" + target, key: a.key})
	if resp.Status != http.StatusOK {
		t.Fatalf("delete: %d %s", resp.Status, resp.Body)
	}
	var out struct {
		TicketID string         `json:"ticket_id"`
		Deleted  bool           `json:"deleted"`
		Removed  map[string]int `json:"removed"`
	}
	resp.decode(t, &out)
	if out.TicketID != target || !out.Deleted || out.Removed["messages"] != 2 || out.Removed["actions"] != 2 ||
		out.Removed["attempts"] < 2 || out.Removed["events"] < 3 || out.Removed["runs"] < 1 || out.Removed["sla_clocks"] < 1 || out.Removed["timers"] < 1 {
		t.Fatalf("delete answered %+v", out)
	}
	if n := e.ticketRows(target); n != 0 {
		t.Fatalf("%d rows of the deleted ticket remain", n)
	}
	if got := e.tenantRows(b.tenant); got != beforeB {
		t.Errorf("the other tenant's rows changed: %s -> %s", beforeB, got)
	}
	if got := e.ticketRows(a.ticket); got != beforeA {
		t.Errorf("the tenant's other ticket changed: %d -> %d rows", beforeA, got)
	}
	wantError(t, e.do(req{method: "GET", path: "/api/v1/public/tickets/" + target, key: a.key}), http.StatusNotFound, "not_found_error", "")
	wantError(t, e.do(req{method: "DELETE", path: "/api/v1/public/tickets/" + target, key: a.key}), http.StatusNotFound, "not_found_error", "")

	// The audit row names the ticket and the counts, and holds none of its content.
	var audit []struct {
		Actor, Target string
		After         string
	}
	if err := e.store.DB().NewSelect().Table("audit_events").Column("actor", "target").ColumnExpr("after::text AS after").
		Where("tenant_id = ? AND action = 'ticket.delete'", a.tenant).Scan(ctx, &audit); err != nil {
		t.Fatal(err)
	}
	if len(audit) != 1 || audit[0].Target != target || !strings.Contains(audit[0].After, `"messages": 2`) ||
		strings.Contains(audit[0].After, "Secret") || strings.Contains(audit[0].After, "ada@") {
		t.Errorf("audit: %+v", audit)
	}

	// The in-flight call's workflow ends once its call returns, and records nothing.
	rc.release()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := tc.DescribeWorkflowExecution(ctx, inFlight.ActionID, "")
		if err != nil {
			t.Fatal(err)
		}
		if d.WorkflowExecutionInfo.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the deleted ticket's running action's workflow is still running")
		}
		time.Sleep(100 * time.Millisecond)
	}
	engine.Drain(ctx)
	if n := e.ticketRows(target); n != 0 {
		t.Fatalf("%d rows of the deleted ticket came back", n)
	}
	if got := e.tenantRows(b.tenant); got != beforeB {
		t.Errorf("the other tenant's rows changed: %s -> %s", beforeB, got)
	}
}

// heldReceiver is a receiver for calls that must stay in flight: a call whose path starts
// with hold waits until release (or the test's end), counted in held; every call is
// answered 200 with the body it brought, so what was sent is also what comes back.
type heldReceiver struct {
	*httptest.Server
	held    atomic.Int32
	release func()
}

func newHeldReceiver(t *testing.T, hold string) *heldReceiver {
	t.Helper()
	gate := make(chan struct{})
	rc := &heldReceiver{}
	var once sync.Once
	rc.release = func() { once.Do(func() { close(gate) }) }
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.HasPrefix(r.URL.Path, hold) {
			rc.held.Add(1)
			select {
			case <-gate:
			case <-r.Context().Done():
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(rc.Close)
	t.Cleanup(rc.release) // runs first: a held call ends before the server closes
	return rc
}

// waitHeld waits until n calls are held.
func (rc *heldReceiver) waitHeld(t *testing.T, n int32) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); rc.held.Load() < n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d calls arrived at the receiver", rc.held.Load(), n)
		}
	}
}
