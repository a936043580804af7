package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/fairness"
	"github.com/threada/threada/internal/temporaltest"
)

// TestWorkflowsCarryTheirTenantAndClass: every workflow Threada starts carries its tenant as
// fairness key, the tenant's delivery weight, and its class as priority key: a client's
// action 1, an automation's action and a timer 2, an action the relay started late 3, a
// bulk replay and what it replays 4. Activities inherit them from their workflow.
func TestWorkflowsCarryTheirTenantAndClass(t *testing.T) {
	shortDelays(t)
	ts := temporaltest.Shared(t)
	e, dsn := envOnURL(t, ts.Addr)
	startWorker(t, e, dsn, ts.Addr)
	tc := ts.Client(t)
	rc := newReceiver(t, nil)
	f := e.actionFixture(rc.URL)
	weight := 2.5
	if _, _, err := e.store.UpdateTenant(context.Background(), f.tenant, domain.TenantUpdate{DeliveryWeight: &weight}); err != nil {
		t.Fatal(err)
	}
	check := func(what, workflowID string, want fairness.Class) {
		t.Helper()
		var got *struct {
			key    int32
			fair   string
			weight float32
		}
		waitFor(t, 10*time.Second, what+"'s workflow exists", func() bool {
			desc, err := tc.DescribeWorkflowExecution(context.Background(), workflowID, "")
			if err != nil {
				return false
			}
			p := desc.GetWorkflowExecutionInfo().GetPriority()
			got = &struct {
				key    int32
				fair   string
				weight float32
			}{p.GetPriorityKey(), p.GetFairnessKey(), p.GetFairnessWeight()}
			return true
		})
		if got.key != int32(want) || got.fair != f.tenant || got.weight != float32(weight) {
			t.Errorf("%s: priority %d, fairness key %q, weight %v; want %d, %s, %v", what, got.key, got.fair, got.weight, want, f.tenant, weight)
		}
	}

	live := decodeAction(t, e.postAction(f, referenceAction(), map[string]string{"Prefer": "wait=10"}))
	check("a client's action", live.ActionID, fairness.Live)

	aut := e.newAutomation(f, map[string]any{"name": "Call", "events": []string{"ticket.created"}, "condition": "true",
		"actions": []any{map[string]any{"type": "custom_http", "method": "POST", "url": "/hooks/auto"}}})
	delayed := e.newAutomation(f, map[string]any{"name": "Later", "events": []string{"ticket.created"}, "delay": "1h", "condition": "true",
		"actions": []any{map[string]any{"type": "add_note", "content": "later"}}})
	ticket := e.mustTicket(f.key, map[string]any{"subject": "automated"}).Ticket.Summary.TicketID
	var autoAction string
	waitFor(t, 10*time.Second, "the automation started its action", func() bool {
		for _, a := range e.listActions(f, ticket) {
			if a.RequestedBy == "automation:"+aut {
				autoAction = a.ActionID
			}
		}
		return autoAction != ""
	})
	check("an automation's action", autoAction, fairness.Automation)
	var timers []timerJSON
	waitFor(t, 10*time.Second, "the delay rule armed its timer", func() bool { timers = e.timers(e.adminKey(f), delayed); return len(timers) == 1 })
	check("a timer", timers[0].TimerID, fairness.Automation)

	// Accepted while this API could not reach Temporal: the worker's relay starts it.
	down := newEnvOn(t, "127.0.0.1:1", e.store)
	late := decodeAction(t, down.do(req{method: "POST", path: "/api/v1/public/tickets/" + f.ticket + "/actions", key: f.key, body: referenceAction()}))
	check("an action the relay started", late.ActionID, fairness.CatchUp)

	now := time.Now().UTC()
	resp := e.do(req{method: "POST", path: "/api/v1/admin/action-replays", key: f.key, body: map[string]any{
		"filter": map[string]any{"since": now.Add(-time.Hour).Format(time.RFC3339), "until": now.Add(time.Minute).Format(time.RFC3339)}}})
	if resp.Status != http.StatusCreated {
		t.Fatalf("bulk replay: %d %s", resp.Status, resp.Body)
	}
	var batch struct {
		Replay struct {
			ReplayID string `json:"replay_id"`
		} `json:"replay"`
	}
	resp.decode(t, &batch)
	check("a bulk replay", batch.Replay.ReplayID, fairness.Bulk)
	var replayed string
	waitFor(t, 10*time.Second, "the bulk replay replayed an action", func() bool {
		for _, a := range e.listActions(f, f.ticket) {
			if a.ReplayOf != nil {
				replayed = a.ActionID
			}
		}
		return replayed != ""
	})
	check("a bulk replay's action", replayed, fairness.Bulk)
}

func (e *testEnv) listActions(f actionFixture, ticketID string) []actionJSON {
	e.t.Helper()
	var out listJSON[actionJSON]
	e.do(req{method: "GET", path: "/api/v1/public/tickets/" + ticketID + "/actions?limit=100", key: f.key}).decode(e.t, &out)
	return out.Items
}

// TestDelayAutomationCapOverTheAPI: the 51st automation with a delay is a 409 in the public
// error format and changes nothing; another tenant is not affected.
func TestDelayAutomationCapOverTheAPI(t *testing.T) {
	e := newTestEnv(t)
	f, other := e.actionFixture("https://hooks.example.com"), e.actionFixture("https://hooks.example.com")
	delayed := func(name string) map[string]any {
		return map[string]any{"name": name, "events": []string{"ticket.updated"}, "delay": "1h", "condition": "true",
			"actions": []any{map[string]any{"type": "add_note", "content": "later"}}}
	}
	for i := range domain.MaxDelayAutomationsByTenant {
		e.newAutomation(f, delayed(fmt.Sprint("rule ", i)))
	}
	key := e.adminKey(f)
	wantError(t, e.do(req{method: "POST", path: "/api/v1/admin/automations", key: key, body: delayed("one more")}), http.StatusConflict, "conflict_error", "")
	plain := e.newAutomation(f, map[string]any{"name": "plain", "events": []string{"ticket.updated"}, "condition": "true",
		"actions": []any{map[string]any{"type": "add_note", "content": "now"}}})
	wantError(t, e.do(req{method: "PATCH", path: "/api/v1/admin/automations/" + plain, key: key, body: map[string]any{"delay": "1h"}}), http.StatusConflict, "conflict_error", "")
	if n := e.countRows("automations", f.tenant); n != domain.MaxDelayAutomationsByTenant+1 {
		t.Errorf("%d automations stored, want %d", n, domain.MaxDelayAutomationsByTenant+1)
	}
	e.newAutomation(other, delayed("theirs"))
}
