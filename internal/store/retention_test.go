package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// retentionFixture gives a tenant, aged by SQL as if months had passed: tickets closed 40
// days ago, one closed 40 days after its last message but changed 2 days ago, one open and
// idle 40 days; actions 10 days old (finished, with a response body and an attempt each,
// and one still retrying); runs 10 days old; audit rows 100 days old. It returns the ids.
type retentionFixture struct {
	tenant                             string
	closedOld, closedRecently, openOld string
	finished, retrying                 string
	automation                         string
}

func newRetentionFixture(t *testing.T, s *store.Store) retentionFixture {
	t.Helper()
	ctx := context.Background()
	f := retentionFixture{tenant: newTenant(t, s)}
	ticket := func(status string, lastMessageDays, updatedDays int) string {
		d, err := s.CreateTicket(ctx, f.tenant, domain.TicketCreate{Subject: "s", Status: status, Priority: "normal", Channel: "api",
			InitialMessage: &domain.MessageCreate{Role: "user", Content: "hello", Channel: "api"}})
		if err != nil {
			t.Fatal(err)
		}
		exec(t, s, "UPDATE tickets SET last_message_at = now() - ? * interval '1 day', updated_at = now() - ? * interval '1 day' WHERE id = ?",
			lastMessageDays, updatedDays, d.Ticket.ID)
		return d.Ticket.ID
	}
	f.closedOld, f.closedRecently, f.openOld = ticket("closed", 40, 40), ticket("closed", 40, 2), ticket("open", 40, 40)
	keep := ticket("open", 0, 0)
	action := func(status string) string {
		a := &domain.Action{ID: domain.NewID(domain.PrefixAction), TenantID: f.tenant, TicketID: keep, Type: domain.ActionTypeCustomHTTP, RequestedBy: "x"}
		if err := s.CreateAction(ctx, a); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordAttempt(ctx, a.ID, store.AttemptResult{Attempt: 1, Status: status,
			Response: &domain.ActionResponse{StatusCode: 200, Body: "the receiver's answer, with ada@example.com"}}); err != nil {
			t.Fatal(err)
		}
		exec(t, s, "UPDATE actions SET created_at = now() - interval '10 days' - ? * interval '1 minute' WHERE id = ?", map[string]int{domain.ActionSucceeded: 2, domain.ActionRetrying: 1}[status], a.ID)
		return a.ID
	}
	f.finished, f.retrying = action(domain.ActionSucceeded), action(domain.ActionRetrying)
	name, cond, events := "r", "true", []string{domain.EventTicketCreated}
	acts := []domain.AutomationAction{{Type: domain.AutomationSetFields, AddTags: []string{"x"}}}
	a, err := s.CreateAutomation(ctx, f.tenant, domain.AutomationInput{Name: &name, Events: &events, Condition: &cond, Actions: &acts})
	if err != nil {
		t.Fatal(err)
	}
	f.automation = a.ID
	for i := range 3 {
		exec(t, s, `INSERT INTO automation_runs (id, tenant_id, automation_id, automation_version, event_id, event_type, ticket_id, matched, evaluated_at)
			VALUES (?, ?, ?, 1, ?, 'ticket.created', ?, true, now() - interval '10 days')`,
			domain.NewID(domain.PrefixRun), f.tenant, a.ID, fmt.Sprintf("evt_%d", i), keep)
	}
	if err := s.RecordAudit(ctx, domain.AuditEvent{TenantID: f.tenant, Actor: "key:k", Action: "settings.update", Target: f.tenant}); err != nil {
		t.Fatal(err)
	}
	exec(t, s, "UPDATE audit_events SET occurred_at = now() - interval '100 days' WHERE tenant_id = ?", f.tenant)
	return f
}

func exec(t *testing.T, s *store.Store, query string, args ...any) {
	t.Helper()
	if _, err := s.DB().NewRaw(query, args...).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, s *store.Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.DB().NewRaw(query, args...).Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRetentionKeepsEachTenantsOwnSchedule: two tenants with the same aged records, one
// with short retention and a deletion schedule for closed tickets, one with the defaults.
// A pass removes exactly what the first one's settings put past retention (a ticket closed
// long ago with everything about it, attempt logs and response bodies of finished actions,
// runs, audit rows) and nothing of the other's; an action still retrying keeps its log and
// body until it ends, and a ticket reopened or closed lately stays. A second pass changes
// nothing more; once the retrying action ends, the next pass takes it.
func TestRetentionKeepsEachTenantsOwnSchedule(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	a, b := newRetentionFixture(t, s), newRetentionFixture(t, s)
	// Attempt logs are kept 30 days here, so their bodies are seen emptied at 7.
	short := domain.Retention{domain.RetainClosedTickets: 30, domain.RetainAttempts: 30, domain.RetainResponseBodies: 7,
		domain.RetainRuns: 7, domain.RetainAudit: 90}
	snapshot := func(f retentionFixture) string {
		return fmt.Sprint(
			count(t, s, "SELECT count(*) FROM tickets WHERE tenant_id = ?", f.tenant),
			count(t, s, "SELECT count(*) FROM messages WHERE tenant_id = ?", f.tenant),
			count(t, s, "SELECT count(*) FROM ticket_events WHERE tenant_id = ?", f.tenant),
			count(t, s, "SELECT count(*) FROM action_attempts WHERE tenant_id = ?", f.tenant),
			count(t, s, "SELECT count(*) FROM actions WHERE tenant_id = ? AND response->>'body' <> ''", f.tenant),
			count(t, s, "SELECT count(*) FROM automation_runs WHERE tenant_id = ?", f.tenant),
			count(t, s, "SELECT count(*) FROM audit_events WHERE tenant_id = ?", f.tenant))
	}
	beforeB := snapshot(b)
	now := time.Now()
	pass := func() store.RetentionReport {
		rep, err := s.ApplyRetention(ctx, store.TenantRetention{TenantID: a.tenant, Retention: short}, now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ApplyRetention(ctx, store.TenantRetention{TenantID: b.tenant}, now); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	rep := pass()
	if rep.ClosedTickets.Tickets() != 1 || rep.ClosedTickets.Messages != 1 || rep.Attempts != 0 || rep.Bodies != 2 || rep.Runs != 3 || rep.Audit != 1 {
		t.Errorf("first pass: %+v", rep)
	}
	for _, id := range []string{a.closedRecently, a.openOld} {
		if count(t, s, "SELECT count(*) FROM tickets WHERE id = ?", id) != 1 {
			t.Errorf("ticket %s went", id)
		}
	}
	if n := count(t, s, "SELECT count(*) FROM tickets WHERE id = ?", a.closedOld) + count(t, s, "SELECT count(*) FROM ticket_events WHERE ticket_id = ?", a.closedOld); n != 0 {
		t.Errorf("%d rows of the old closed ticket are left", n)
	}
	if n := count(t, s, "SELECT count(*) FROM action_attempts WHERE action_id = ? AND response->>'body' = ''", a.finished); n != 1 {
		t.Errorf("the finished action's attempt: %d entries with an emptied body, want 1", n)
	}
	if n := count(t, s, "SELECT count(*) FROM actions WHERE id = ? AND response->>'body' <> ''", a.retrying); n != 1 {
		t.Errorf("the retrying action's body went before it ended")
	}
	if got := snapshot(b); got != beforeB {
		t.Errorf("the tenant with the defaults lost rows: %s -> %s", beforeB, got)
	}
	// Attempt logs at 7 days: the finished action's goes, the retrying one's stays.
	c := newRetentionFixture(t, s)
	if rep, err := s.ApplyRetention(ctx, store.TenantRetention{TenantID: c.tenant, Retention: domain.Retention{domain.RetainAttempts: 7}}, now); err != nil || rep.Attempts != 1 ||
		count(t, s, "SELECT count(*) FROM action_attempts WHERE action_id = ?", c.retrying) != 1 {
		t.Errorf("attempts at 7 days: %+v %v", rep, err)
	}
	afterA := snapshot(a)
	if rep := pass(); rep.ClosedTickets.Tickets()+int(rep.Attempts+rep.Bodies+rep.Runs+rep.Audit) != 0 {
		t.Errorf("second pass did more: %+v", rep)
	}
	if got := snapshot(a); got != afterA {
		t.Errorf("second pass changed %s -> %s", afterA, got)
	}
	if _, err := s.RecordAttempt(ctx, a.retrying, store.AttemptResult{Attempt: 2, Status: domain.ActionFailed}); err != nil {
		t.Fatal(err)
	}
	if rep := pass(); rep.Attempts != 0 || rep.Bodies == 0 || count(t, s, "SELECT count(*) FROM action_attempts WHERE action_id = ? AND response->>'body' <> ''", a.retrying) != 0 {
		t.Errorf("after the retrying action ended: %+v", rep)
	}
	if got := snapshot(b); got != beforeB {
		t.Errorf("the tenant with the defaults lost rows: %s -> %s", beforeB, got)
	}
}
