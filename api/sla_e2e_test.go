package main

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/temporaltest"
)

type clockJSON struct {
	DueAt      *string `json:"due_at"`
	Breached   bool    `json:"breached"`
	AchievedAt *string `json:"achieved_at"`
	Paused     bool    `json:"paused"`
}

type ticketSLAJSON struct {
	Ticket struct {
		Summary struct {
			Tags []string `json:"tags"`
		} `json:"summary"`
		SLA *struct {
			PolicyID   string     `json:"policy_id"`
			FirstReply *clockJSON `json:"first_reply"`
			Resolution *clockJSON `json:"resolution"`
		} `json:"sla"`
	} `json:"ticket"`
}

func shortSLATargets(t *testing.T) {
	old := domain.MinSLATarget
	domain.MinSLATarget = time.Second
	t.Cleanup(func() { domain.MinSLATarget = old })
}

func (e *testEnv) ticketSLA(key, id string) ticketSLAJSON {
	e.t.Helper()
	var out ticketSLAJSON
	e.do(req{method: "GET", path: "/api/v1/public/tickets/" + id, key: key}).decode(e.t, &out)
	return out
}

// TestSLAPolicies: create, read, list, change and delete a policy; bad targets and
// calendars are refused with the parameter named; another tenant sees none of it.
func TestSLAPolicies(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com")
	admin := e.adminKey(f)
	body := map[string]any{"name": "VIP", "condition": `"vip" in ticket.tags`,
		"targets": map[string]any{"urgent": map[string]any{"first_reply": "30m", "resolution": "4h"}, "normal": map[string]any{"resolution": "24h"}},
		"business_hours": map[string]any{"time_zone": "Europe/Berlin", "weekly": map[string]any{
			"monday": []any{map[string]any{"start": "09:00", "end": "17:00"}}}, "holidays": []string{"2026-12-25"}}}
	resp := e.do(req{method: "POST", path: "/api/v1/admin/sla-policies", key: admin, body: body})
	if resp.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.Status, resp.Body)
	}
	var created struct {
		SLAPolicy struct {
			ID             string         `json:"sla_policy_id"`
			Targets        map[string]any `json:"targets"`
			WarningPercent int            `json:"warning_percent"`
			Version        int            `json:"version"`
		} `json:"sla_policy"`
	}
	resp.decode(t, &created)
	p := created.SLAPolicy
	if p.WarningPercent != 75 || p.Version != 1 || p.Targets["urgent"].(map[string]any)["first_reply"] != "30m0s" {
		t.Errorf("created %+v", p)
	}
	for name, bad := range map[string]map[string]any{
		"targets.urgent.first_reply": {"targets": map[string]any{"urgent": map[string]any{"first_reply": "10s"}}},
		// Zero is no target, which a metric left out says; given, it is refused.
		"targets.urgent.resolution": {"targets": map[string]any{"urgent": map[string]any{"first_reply": "1h", "resolution": "0s"}}},
		"targets":                   {"targets": map[string]any{"someday": map[string]any{"resolution": "1h"}}},
		"business_hours.time_zone":  {"business_hours": map[string]any{"time_zone": "Nowhere/Land", "weekly": map[string]any{}}},
		"condition":                 {"condition": "ticket.priority =="},
		"warning_percent":           {"warning_percent": 100},
	} {
		resp := e.do(req{method: "PATCH", path: "/api/v1/admin/sla-policies/" + p.ID, key: admin, body: bad})
		if resp.Status != http.StatusBadRequest || resp.apiError(t).Param != name {
			t.Errorf("%s: %d %s", name, resp.Status, resp.Body)
		}
	}
	resp = e.do(req{method: "PATCH", path: "/api/v1/admin/sla-policies/" + p.ID, key: admin, body: map[string]any{"business_hours": nil, "warning_percent": 80}})
	if resp.Status != http.StatusOK {
		t.Fatalf("patch: %d %s", resp.Status, resp.Body)
	}
	other := e.adminKey(e.actionFixture("https://hooks.example.com"))
	if resp := e.do(req{method: "GET", path: "/api/v1/admin/sla-policies/" + p.ID, key: other}); resp.Status != http.StatusNotFound {
		t.Errorf("another tenant read the policy: %d", resp.Status)
	}
	var list listJSON[map[string]any]
	e.do(req{method: "GET", path: "/api/v1/admin/sla-policies", key: other}).decode(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("another tenant lists %d policies", len(list.Items))
	}
	if resp := e.do(req{method: "DELETE", path: "/api/v1/admin/sla-policies/" + p.ID, key: admin}); resp.Status != http.StatusOK {
		t.Fatalf("delete: %d %s", resp.Status, resp.Body)
	}
	if resp := e.do(req{method: "GET", path: "/api/v1/admin/sla-policies/" + p.ID, key: admin}); resp.Status != http.StatusNotFound {
		t.Errorf("deleted policy: %d", resp.Status)
	}
}

// TestSLAClockPausesBreachesAndFiresARule, end to end with the worker and Temporal: a
// resolution target of 5 s; the ticket waits 2 s pending, which does not count, so the
// clock breaches about 7 s after creation, within seconds, and a rule on sla.breached tags
// the ticket; sla.warning comes first.
func TestSLAClockPausesBreachesAndFiresARule(t *testing.T) {
	shortSLATargets(t)
	ts := temporaltest.Shared(t)
	e, dsn := envOnURL(t, ts.Addr)
	startWorker(t, e, dsn, ts.Addr)
	f := e.actionFixture("https://hooks.example.com")
	admin := e.adminKey(f)
	if resp := e.do(req{method: "POST", path: "/api/v1/admin/sla-policies", key: admin, body: map[string]any{
		"name": "Everyone", "condition": "true", "warning_percent": 50,
		"targets": map[string]any{"normal": map[string]any{"resolution": "5s"}}}}); resp.Status != http.StatusCreated {
		t.Fatalf("policy: %d %s", resp.Status, resp.Body)
	}
	for _, typ := range []string{"sla.warning", "sla.breached"} {
		e.newAutomation(f, map[string]any{"name": typ, "events": []string{typ}, "condition": `sla.metric == "resolution"`,
			"actions": []any{map[string]any{"type": "set_fields", "add_tags": []string{typ}}}})
	}
	tk := e.mustTicket(f.key, map[string]any{"subject": "Refund?"}).Ticket.Summary.TicketID
	var got ticketSLAJSON
	waitFor(t, 5*time.Second, "the clock runs", func() bool {
		got = e.ticketSLA(f.key, tk)
		return got.Ticket.SLA != nil && got.Ticket.SLA.Resolution != nil && got.Ticket.SLA.Resolution.DueAt != nil
	})
	if got.Ticket.SLA.FirstReply != nil {
		t.Errorf("first_reply without a target: %+v", got.Ticket.SLA.FirstReply)
	}
	time.Sleep(time.Second)
	patch := func(status string) {
		if resp := e.do(req{method: "PATCH", path: "/api/v1/public/tickets/" + tk, key: f.key, body: map[string]any{"status": status}}); resp.Status != http.StatusOK {
			t.Fatalf("patch: %d %s", resp.Status, resp.Body)
		}
	}
	patch("pending")
	waitFor(t, 5*time.Second, "the clock pauses", func() bool {
		r := e.ticketSLA(f.key, tk).Ticket.SLA.Resolution
		return r.Paused && r.DueAt == nil
	})
	time.Sleep(2 * time.Second)
	patch("open")
	waitFor(t, 5*time.Second, "the clock resumes", func() bool {
		got = e.ticketSLA(f.key, tk)
		return got.Ticket.SLA.Resolution.DueAt != nil && !got.Ticket.SLA.Resolution.Paused
	})
	due, _ := time.Parse(time.RFC3339Nano, *got.Ticket.SLA.Resolution.DueAt)
	// 5 s less what ran before the pause; the pending time does not count. The API shows
	// whole seconds, so the check reads the exact times from the database.
	var exactDue, created, paused, resumed time.Time
	if err := e.store.DB().QueryRowContext(context.Background(), `SELECT s.due_at, t.created_at,
			(SELECT min(occurred_at) FROM ticket_events WHERE ticket_id = t.id AND type = 'ticket.updated'),
			(SELECT max(occurred_at) FROM ticket_events WHERE ticket_id = t.id AND type = 'ticket.updated')
		FROM ticket_slas s JOIN tickets t ON t.id = s.ticket_id WHERE s.ticket_id = ? AND s.metric = 'resolution'`, tk).Scan(&exactDue, &created, &paused, &resumed); err != nil {
		t.Fatal(err)
	}
	if want := resumed.Add(5*time.Second - paused.Sub(created)); exactDue.Sub(want).Abs() > time.Millisecond { // elapsed time is kept in ms
		t.Errorf("due %v, want %v: 5 s less the %v before the pause, from %v", exactDue, want, paused.Sub(created), resumed)
	}
	waitFor(t, 15*time.Second, "the breach fires its rule", func() bool {
		got = e.ticketSLA(f.key, tk)
		return slices.Contains(got.Ticket.Summary.Tags, "sla.breached")
	})
	if late := time.Since(due); late > 5*time.Second {
		t.Errorf("the rule ran %v after the due time", late)
	}
	if !got.Ticket.SLA.Resolution.Breached || !slices.Contains(got.Ticket.Summary.Tags, "sla.warning") {
		t.Errorf("after the breach: tags %v, clock %+v", got.Ticket.Summary.Tags, got.Ticket.SLA.Resolution)
	}
}
