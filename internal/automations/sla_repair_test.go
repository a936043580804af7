package automations

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// havanaPolicy gives the tenant a policy for every ticket in the Havana office hours that
// issue 19 reported, with 720 h targets.
func (f *fixture) havanaPolicy(tenant string) *domain.SLAPolicy {
	f.t.Helper()
	day := []domain.HoursRange{{Start: "09:00", End: "17:00"}}
	cal := &domain.BusinessCalendar{TimeZone: "America/Havana", Weekly: map[string][]domain.HoursRange{
		"monday": day, "tuesday": day, "wednesday": day, "thursday": day, "friday": day}}
	name, cond := "Havana", "true"
	targets := map[string]domain.SLATarget{domain.PriorityNormal: {FirstReply: domain.MaxSLATarget, Resolution: domain.MaxSLATarget}}
	in := domain.SLAPolicyInput{Name: &name, Condition: &cond, Targets: &targets, Calendar: cal}
	if err := in.CheckStatic(true); err != nil {
		f.t.Fatal(err)
	}
	p, err := f.store.CreateSLAPolicy(context.Background(), tenant, in)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// undate leaves a ticket's clocks as the day walk did: running, due_at and warning_at
// null, no timer.
func (f *fixture) undate(ticket string) {
	f.t.Helper()
	for _, q := range []string{"UPDATE ticket_slas SET due_at = NULL, warning_at = NULL WHERE ticket_id = ?", "DELETE FROM ticket_timers WHERE ticket_id = ?"} {
		if _, err := f.store.DB().Exec(q, ticket); err != nil {
			f.t.Fatal(err)
		}
	}
}

// timerOf returns the type and due time of a clock's timer ("" without one).
func (f *fixture) timerOf(ticket, metric string) (string, time.Time) {
	f.t.Helper()
	var rows []struct {
		DueAt time.Time `bun:"due_at"`
		Type  string    `bun:"type"`
	}
	if err := f.store.DB().NewRaw("SELECT due_at, event->>'type' AS type FROM ticket_timers WHERE id = ?", store.SLATimerID(ticket, metric)).Scan(context.Background(), &rows); err != nil {
		f.t.Fatal(err)
	}
	if len(rows) == 0 {
		return "", time.Time{}
	}
	return rows[0].Type, rows[0].DueAt
}

// TestRepairDatesUndatedClocks: clocks left without a due date get the one their policy's
// calendar gives and a timer for their next mark, tenants in turn, without waiting for an
// event; a paused clock keeps none, a breached one gets its due date and no timer, and a
// second look finds nothing.
func TestRepairDatesUndatedClocks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	other := f.newTenant("https://hooks.example.com")
	policy := f.havanaPolicy(f.tenant)
	f.havanaPolicy(other)
	quiet, otherTicket, pending := f.newTicket(f.tenant), f.newTicket(other), f.newTicket(f.tenant)
	if _, err := f.store.UpdateTicket(f.ctx, f.tenant, pending, domain.TicketUpdate{Status: ptr(domain.StatusPending)}); err != nil {
		t.Fatal(err)
	}
	f.drain()
	for _, id := range []string{quiet, otherTicket, pending} {
		f.undate(id)
	}
	if _, err := f.store.DB().Exec("UPDATE ticket_slas SET breached_at = now() WHERE ticket_id = ? AND metric = ?", otherTicket, domain.SLAFirstReply); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var armed []string
	f.engine.Arm = func(_ context.Context, t *store.Timer) { mu.Lock(); armed = append(armed, t.ID); mu.Unlock() }

	// Five running clocks: three of this tenant's, two of the other's. A batch of two
	// takes one of each tenant.
	now := time.Now()
	if n, err := f.engine.RepairClocksOnce(ctx, 2, now); err != nil || n != 2 {
		t.Fatalf("first batch: %d %v", n, err)
	}
	var tenants []string
	if err := f.store.DB().NewRaw("SELECT tenant_id FROM ticket_slas WHERE due_at IS NOT NULL ORDER BY tenant_id").Scan(ctx, &tenants); err != nil || len(tenants) != 2 || tenants[0] == tenants[1] {
		t.Fatalf("the first batch dated clocks of %v (%v), want one per tenant", tenants, err)
	}
	if n, err := f.engine.RepairClocksOnce(ctx, 100, now); err != nil || n != 3 {
		t.Fatalf("second batch: %d %v", n, err)
	}
	if n, err := f.engine.RepairClocksOnce(ctx, 100, now); err != nil || n != 0 {
		t.Fatalf("nothing left to repair: %d %v", n, err)
	}

	for _, tc := range []struct {
		ticket, metric string
		timer          string // the timer's event type, "" for none
	}{
		{quiet, domain.SLAFirstReply, domain.EventSLAWarning},
		{quiet, domain.SLAResolution, domain.EventSLAWarning},
		{otherTicket, domain.SLAFirstReply, ""}, // breached
		{otherTicket, domain.SLAResolution, domain.EventSLAWarning},
		{pending, domain.SLAFirstReply, domain.EventSLAWarning},
	} {
		clocks, err := f.store.TicketClocks(ctx, tc.ticket)
		if err != nil {
			t.Fatal(err)
		}
		c := clocks[tc.metric]
		want := policy.Calendar.Add(*c.RunningSince, c.Target-c.Elapsed)
		if c.DueAt == nil || !c.DueAt.Equal(want) || c.WarningAt == nil {
			t.Errorf("%s %s: due %v warning %v, want due %v", tc.ticket, tc.metric, c.DueAt, c.WarningAt, want)
			continue
		}
		if typ, due := f.timerOf(tc.ticket, tc.metric); typ != tc.timer || tc.timer != "" && !due.Equal(*c.WarningAt) {
			t.Errorf("%s %s: timer %q at %v, want %q at the warning %v", tc.ticket, tc.metric, typ, due, tc.timer, c.WarningAt)
		}
	}
	if clocks, _ := f.store.TicketClocks(ctx, pending); clocks[domain.SLAResolution].DueAt != nil {
		t.Errorf("the paused clock got a due date: %+v", clocks[domain.SLAResolution])
	}
	if typ, _ := f.timerOf(pending, domain.SLAResolution); typ != "" {
		t.Errorf("the paused clock got a timer")
	}
	if len(armed) != 4 {
		t.Errorf("armed after commit: %v", armed)
	}
}

// TestNextEventDatesAnUndatedClock: the engine recomputes a running clock's due date on
// every event of its ticket, so an undated clock whose ticket changes is dated then too.
func TestNextEventDatesAnUndatedClock(t *testing.T) {
	f := newFixture(t)
	f.havanaPolicy(f.tenant)
	ticket := f.newTicket(f.tenant)
	f.undate(ticket)
	if _, err := f.store.UpdateTicket(f.ctx, f.tenant, ticket, domain.TicketUpdate{AddTags: []string{"vip"}}); err != nil {
		t.Fatal(err)
	}
	f.drain()
	clocks, err := f.store.TicketClocks(context.Background(), ticket)
	if err != nil {
		t.Fatal(err)
	}
	for _, metric := range domain.SLAMetrics {
		if c := clocks[metric]; c == nil || c.DueAt == nil {
			t.Errorf("%s: %+v", metric, c)
		}
		if typ, _ := f.timerOf(ticket, metric); typ != domain.EventSLAWarning {
			t.Errorf("%s: timer %q", metric, typ)
		}
	}
}
