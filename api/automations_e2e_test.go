package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/threada/threada/internal/actions"
	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/fairness"
	"github.com/threada/threada/internal/temporaltest"
)

type runJSON struct {
	RunID   string `json:"run_id"`
	EventID string `json:"event_id"`
	Matched bool   `json:"matched"`
	Skipped *string
	Actions []struct {
		Type     string `json:"type"`
		ActionID string `json:"action_id"`
		Error    string `json:"error"`
	} `json:"actions"`
	Error       *string `json:"error"`
	Explanation *struct {
		Text string `json:"text"`
	} `json:"explanation"`
}

// TestAutomationFiresOnceAfterTheWorkerStarts: a ticket changed while no worker runs fires
// its automation exactly once when a worker starts: the receiver gets one call, the action
// shows requested_by automation:<id>, set_fields tags the ticket, and the run history says so.
func TestAutomationFiresOnceAfterTheWorkerStarts(t *testing.T) {
	ts := temporaltest.Shared(t)
	e, dsn := envOnURL(t, ts.Addr)
	rc := newReceiver(t, nil)
	f := e.actionFixture(rc.URL)
	autID := e.newAutomation(f, exampleAutomation())

	// No worker yet: the change and its event wait in PostgreSQL.
	resp := e.do(req{method: "PATCH", path: "/api/v1/public/tickets/" + f.ticket, key: f.key,
		body: map[string]any{"priority": "urgent", "tags": []string{"vip"}}})
	if resp.Status != 200 {
		t.Fatalf("patch: %d %s", resp.Status, resp.Body)
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("the receiver was called with no worker running (%d)", n)
	}

	startWorker(t, e, dsn, ts.Addr)
	deadline := time.Now().Add(30 * time.Second)
	for len(rc.requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // room for a wrong second call
	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("receiver got %d calls, want exactly 1", len(got))
	}
	if got[0].Path != "/hooks/pager" || got[0].Body != `{"ticket": "`+f.ticket+`"}` || got[0].Header.Get("X-Source") != "threada" {
		t.Errorf("call %+v", got[0])
	}

	var acts listJSON[actionJSON]
	e.do(req{method: "GET", path: "/api/v1/public/tickets/" + f.ticket + "/actions", key: f.key}).decode(t, &acts)
	if len(acts.Items) != 1 || acts.Items[0].RequestedBy != "automation:"+autID || got[0].Header.Get("Idempotency-Key") != acts.Items[0].ActionID {
		t.Fatalf("actions %+v", acts.Items)
	}
	waitStatus(t, e, f, acts.Items[0].ActionID, "succeeded", 15*time.Second)

	var tk ticketJSON
	e.do(req{method: "GET", path: "/api/v1/public/tickets/" + f.ticket, key: f.key}).decode(t, &tk)
	if tags := tk.Ticket.Summary.Tags; len(tags) != 2 || tags[1] != "escalated" {
		t.Errorf("tags %v, want [vip escalated]", tags)
	}
	var runs listJSON[runJSON]
	e.do(req{method: "GET", path: "/api/v1/admin/automations/" + autID + "/runs", key: e.adminKey(f)}).decode(t, &runs)
	// Newest first: the event its own set_fields caused (skipped), the client's change
	// (matched), and the ticket's creation, which waited for the worker too (no match).
	if len(runs.Items) != 3 || runs.Items[0].Skipped == nil || !runs.Items[1].Matched || runs.Items[2].Matched ||
		runs.Items[1].Actions[0].ActionID != acts.Items[0].ActionID || runs.Items[1].Actions[1].Type != "set_fields" {
		t.Errorf("runs %+v", runs.Items)
	}
	// Each evaluated run says why, clause by clause; the skipped one was not evaluated.
	want := `ticket.priority == "urgent" -> false (ticket.priority = "normal")` + "\n" + `"vip" in ticket.tags -> false (ticket.tags = [])`
	if len(runs.Items) == 3 && (runs.Items[0].Explanation != nil || runs.Items[1].Explanation == nil || runs.Items[2].Explanation == nil ||
		runs.Items[2].Explanation.Text != want || !strings.Contains(runs.Items[1].Explanation.Text, `-> true (ticket.priority = "urgent")`)) {
		t.Errorf("explanations: %+v / %+v / %+v", runs.Items[0].Explanation, runs.Items[1].Explanation, runs.Items[2].Explanation)
	}
}

// TestRelayThatCrashedAfterStartingDoesNotStartTwice: a workflow started for an action
// whose row was never marked started (the relay died in between) is not started again by
// the next relay, and the receiver gets one call.
func TestRelayThatCrashedAfterStartingDoesNotStartTwice(t *testing.T) {
	ts := temporaltest.Shared(t)
	e, dsn := envOnURL(t, ts.Addr)
	rc := newReceiver(t, nil)
	f := e.actionFixture(rc.URL)
	p := domain.CustomHTTPPayload{Type: "custom_http", Method: "POST", URL: "/hooks/once", BodyJSON: `{}`}
	call, err := p.Validate(domain.ActionSettings{ActionsBaseURL: rc.URL})
	if err != nil {
		t.Fatal(err)
	}
	a := &domain.Action{ID: domain.NewID(domain.PrefixAction), TenantID: f.tenant, TicketID: f.ticket, Type: "custom_http",
		RequestedBy: "api_key:x", Payload: p, Request: call}
	ctx := context.Background()
	if err := e.store.CreateAction(ctx, a); err != nil {
		t.Fatal(err)
	}
	// The crashed relay: started the workflow, never marked the row.
	tc := ts.Client(t)
	if _, err := tc.ExecuteWorkflow(ctx, contract.StartOptions(e.cfg.TaskQueue, a, fairness.Priority(a.TenantID, 1, fairness.CatchUp)), contract.ActionWorkflowName, contract.InputOf(a)); err != nil {
		t.Fatal(err)
	}
	// The next relay round (the worker's relay logic, here with no worker running yet):
	// the start is refused as a duplicate, which counts as started.
	n, err := actions.NewRunner(tc, e.store, slog.New(slog.DiscardHandler), e.cfg).RelayOnce(ctx, 0)
	if err != nil || n != 1 {
		t.Fatalf("relay round: %d started, %v", n, err)
	}
	if got, _ := e.store.ActionByID(ctx, a.ID); !got.Started {
		t.Fatal("the relay did not mark the action started")
	}
	w := startWorker(t, e, dsn, ts.Addr)
	waitStatus(t, e, f, a.ID, "succeeded", 30*time.Second)
	time.Sleep(time.Second)
	if n := len(rc.requests()); n != 1 {
		t.Errorf("receiver got %d calls, want 1\n%s", n, w.logs)
	}
}
