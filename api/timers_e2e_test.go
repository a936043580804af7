package main

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/temporaltest"
)

type timerJSON struct {
	TimerID   string `json:"timer_id"`
	TicketID  string `json:"ticket_id"`
	EventType string `json:"event_type"`
	EventID   string `json:"event_id"`
	DueAt     string `json:"due_at"`
}

// shortDelays lets automations take delays of seconds, so a timer fires within a test.
func shortDelays(t *testing.T) {
	old := domain.MinAutomationDelay
	domain.MinAutomationDelay = time.Second
	t.Cleanup(func() { domain.MinAutomationDelay = old })
}

func (e *testEnv) timers(admin, automationID string) []timerJSON {
	e.t.Helper()
	var out listJSON[timerJSON]
	resp := e.do(req{method: "GET", path: "/api/v1/admin/automations/" + automationID + "/timers", key: admin})
	if resp.Status != http.StatusOK {
		e.t.Fatalf("timers: %d %s", resp.Status, resp.Body)
	}
	resp.decode(e.t, &out)
	return out.Items
}

func (e *testEnv) notes(key, ticketID string) []messageJSON {
	e.t.Helper()
	var out listJSON[messageJSON]
	e.do(req{method: "GET", path: "/api/v1/public/tickets/" + ticketID + "/messages", key: key}).decode(e.t, &out)
	var notes []messageJSON
	for _, m := range out.Items {
		if m.Role == "note" {
			notes = append(notes, m)
		}
	}
	return notes
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDelayRuleFiresOnTimeAndRearms, end to end with the worker binary and a real Temporal
// server: a rule "3 s after the last update, if the ticket is still open, add a note" is
// armed by an update, re-armed by a second one, and fires once, within 5 s of 3 s after
// the second update, with that update as `event`; its run says so. Another tenant cannot
// see its timers.
func TestDelayRuleFiresOnTimeAndRearms(t *testing.T) {
	shortDelays(t)
	ts := temporaltest.Shared(t)
	e, dsn := envOnURL(t, ts.Addr)
	w := startWorker(t, e, dsn, ts.Addr)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(w.logs.String())
		}
	})
	f := e.actionFixture("https://hooks.example.com")
	admin := e.adminKey(f)
	autID := e.newAutomation(f, map[string]any{
		"name": "Nudge", "events": []string{"ticket.updated"}, "delay": "3s",
		"condition": `ticket.status == "open" && event.type == "ticket.updated"`,
		"actions":   []any{map[string]any{"type": "add_note", "content": "no news since {{ event.occurred_at }}: {{ ticket.priority }}"}},
	})
	patch := func(priority string) time.Time {
		resp := e.do(req{method: "PATCH", path: "/api/v1/public/tickets/" + f.ticket, key: f.key, body: map[string]any{"priority": priority}})
		if resp.Status != http.StatusOK {
			t.Fatalf("patch: %d %s", resp.Status, resp.Body)
		}
		var tk ticketJSON
		resp.decode(t, &tk)
		at, _ := time.Parse(time.RFC3339Nano, tk.Ticket.Summary.UpdatedAt)
		return at
	}
	patch("high")
	waitFor(t, 5*time.Second, "the first update armed a timer", func() bool { return len(e.timers(admin, autID)) == 1 })
	firstArm := e.timers(admin, autID)[0]
	time.Sleep(1500 * time.Millisecond)
	second := patch("urgent")
	var armed []timerJSON
	waitFor(t, 5*time.Second, "the second update re-armed the timer", func() bool {
		armed = e.timers(admin, autID)
		return len(armed) == 1 && armed[0].EventID != firstArm.EventID
	})
	due, _ := time.Parse(time.RFC3339Nano, armed[0].DueAt)
	if d := due.Sub(second); d < 3*time.Second || d > 3*time.Second+time.Second {
		t.Errorf("due %v after the second update, want 3 s", d)
	}

	other := e.actionFixture("https://hooks.example.com")
	if resp := e.do(req{method: "GET", path: "/api/v1/admin/automations/" + autID + "/timers", key: e.adminKey(other)}); resp.Status != http.StatusNotFound {
		t.Errorf("another tenant read the timers: %d", resp.Status)
	}

	var notes []messageJSON
	defer func() {
		if t.Failed() {
			t.Log(string(e.do(req{method: "GET", path: "/api/v1/admin/automations/" + autID + "/runs", key: admin}).Body))
		}
		if t.Failed() {
			it := ts.Client(t).GetWorkflowHistory(context.Background(), armed[0].TimerID, "", false, 0)
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					t.Log(err)
					break
				}
				t.Log(ev.GetEventType().String(), ev.String()[:min(300, len(ev.String()))])
			}
		}
	}()
	waitFor(t, 15*time.Second, "the timer fired", func() bool { notes = e.notes(f.key, f.ticket); return len(notes) > 0 })
	at, _ := time.Parse(time.RFC3339Nano, notes[0].CreatedAt)
	if late := at.Sub(due); late < 0 || late > 5*time.Second {
		t.Errorf("fired %v after its due time, want within 5 s", late)
	}
	time.Sleep(4 * time.Second) // the first arm's time has long passed: nothing more comes
	// The ticket as it is when the timer fires (urgent), the event that armed it last.
	if notes = e.notes(f.key, f.ticket); len(notes) != 1 || !strings.HasPrefix(notes[0].Content, "no news since "+second.UTC().Format("2006-01-02")) ||
		!strings.HasSuffix(notes[0].Content, ": urgent") {
		t.Errorf("notes %+v", notes)
	}
	if left := e.timers(admin, autID); len(left) != 0 {
		t.Errorf("timers left after firing: %+v", left)
	}
	var runs listJSON[struct {
		EventType   string `json:"event_type"`
		Matched     bool   `json:"matched"`
		Explanation *struct {
			Text string `json:"text"`
		} `json:"explanation"`
	}]
	e.do(req{method: "GET", path: "/api/v1/admin/automations/" + autID + "/runs", key: admin}).decode(t, &runs)
	if len(runs.Items) != 1 || runs.Items[0].EventType != "automation.delay_elapsed" || !runs.Items[0].Matched ||
		runs.Items[0].Explanation == nil || runs.Items[0].Explanation.Text != `ticket.status == "open" -> true (ticket.status = "open")`+"\n"+`event.type == "ticket.updated" -> true (event.type = "ticket.updated")` {
		t.Errorf("runs %+v", runs.Items)
	}
}

// TestDisabledDelayRuleLeavesNoTimers: disabling a time-based rule removes its armed
// timers at once, ends their workflows in Temporal (one batch signal), and nothing fires
// when they would have come due.
func TestDisabledDelayRuleLeavesNoTimers(t *testing.T) {
	shortDelays(t)
	ts := temporaltest.Shared(t)
	e, dsn := envOnURL(t, ts.Addr)
	w := startWorker(t, e, dsn, ts.Addr)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(w.logs.String())
		}
	})
	f := e.actionFixture("https://hooks.example.com")
	admin := e.adminKey(f)
	autID := e.newAutomation(f, map[string]any{
		"name": "Nudge new tickets", "events": []string{"ticket.created"}, "delay": "4s", "condition": "true",
		"actions": []any{map[string]any{"type": "add_note", "content": "nudge"}},
	})
	tk := e.mustTicket(f.key, map[string]any{"subject": "Where is my parcel?"}).Ticket.Summary.TicketID
	var armed []timerJSON
	waitFor(t, 5*time.Second, "the timer is armed", func() bool {
		armed = slices.DeleteFunc(e.timers(admin, autID), func(tm timerJSON) bool { return tm.TicketID != tk })
		return len(armed) == 1
	})
	tc := ts.Client(t)
	waitFor(t, 5*time.Second, "the timer's workflow runs", func() bool {
		d, err := tc.DescribeWorkflowExecution(context.Background(), armed[0].TimerID, "")
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	})

	resp := e.do(req{method: "PATCH", path: "/api/v1/admin/automations/" + autID, key: admin, body: map[string]any{"enabled": false}})
	if resp.Status != http.StatusOK {
		t.Fatalf("disable: %d %s", resp.Status, resp.Body)
	}
	if left := e.timers(admin, autID); len(left) != 0 {
		t.Fatalf("timers after disabling: %+v", left)
	}
	waitFor(t, 15*time.Second, "the timer's workflow ends, disarmed", func() bool {
		d, err := tc.DescribeWorkflowExecution(context.Background(), armed[0].TimerID, "")
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	})
	time.Sleep(5 * time.Second) // past its due time
	if notes := e.notes(f.key, tk); len(notes) != 0 {
		t.Errorf("a disabled rule fired: %+v", notes)
	}
}

// TestTimerFiresOnTimeAcrossAWorkerCrash: the worker that armed a timer is SIGKILLed and a
// new one started before the timer is due; the timer, held by Temporal, still fires within
// 5 s of its due time, once.
func TestTimerFiresOnTimeAcrossAWorkerCrash(t *testing.T) {
	shortDelays(t)
	ts := temporaltest.Shared(t)
	e, dsn := envOnURL(t, ts.Addr)
	first := startWorker(t, e, dsn, ts.Addr)
	f := e.actionFixture("https://hooks.example.com")
	admin := e.adminKey(f)
	autID := e.newAutomation(f, map[string]any{
		"name": "Nudge", "events": []string{"ticket.updated"}, "delay": "6s", "condition": "true",
		"actions": []any{map[string]any{"type": "add_note", "content": "nudge"}},
	})
	if resp := e.do(req{method: "PATCH", path: "/api/v1/public/tickets/" + f.ticket, key: f.key, body: map[string]any{"priority": "high"}}); resp.Status != http.StatusOK {
		t.Fatalf("patch: %d %s", resp.Status, resp.Body)
	}
	var armed []timerJSON
	waitFor(t, 5*time.Second, "the timer is armed", func() bool { armed = e.timers(admin, autID); return len(armed) == 1 })
	waitFor(t, 5*time.Second, "the timer reached Temporal", func() bool {
		var synced bool
		err := e.store.DB().QueryRowContext(context.Background(), "SELECT synced FROM ticket_timers WHERE id = ?", armed[0].TimerID).Scan(&synced)
		return err == nil && synced
	})
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.done
	startWorker(t, e, dsn, ts.Addr)
	due, _ := time.Parse(time.RFC3339Nano, armed[0].DueAt)
	if time.Now().After(due) {
		t.Fatalf("the restart took past the due time (%v)", due)
	}
	var notes []messageJSON
	waitFor(t, 20*time.Second, "the timer fired", func() bool { notes = e.notes(f.key, f.ticket); return len(notes) > 0 })
	at, _ := time.Parse(time.RFC3339Nano, notes[0].CreatedAt)
	late := at.Sub(due)
	t.Logf("fired %v after its due time (whole seconds)", late)
	if late < -time.Second || late > 5*time.Second { // created_at is whole seconds
		t.Errorf("fired %v after its due time, want within 5 s", late)
	}
	time.Sleep(2 * time.Second)
	if notes = e.notes(f.key, f.ticket); len(notes) != 1 {
		t.Errorf("notes %+v, want one", notes)
	}
}
