package store_test

import (
	"testing"
	"time"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// TestSaveClocksSavesThePlan: a clock plan is stored as given in one call; its timers are
// armed for their marks (and answered only when the mark is new) or disarmed with a newer
// generation; dropped clocks go.
func TestSaveClocksSavesThePlan(t *testing.T) {
	s := dbtest.New(t)
	ctx := domain.WithOrigin(t.Context(), domain.Origin{Actor: "api_key:key_1"})
	tenant := newTenant(t, s)
	in := domain.TicketCreate{Subject: "s"}
	if err := in.Normalize(); err != nil {
		t.Fatal(err)
	}
	d, err := s.CreateTicket(ctx, tenant, in)
	if err != nil {
		t.Fatal(err)
	}
	ticket := d.Ticket.ID
	name, cond := "p", "true"
	targets := map[string]domain.SLATarget{domain.PriorityNormal: {FirstReply: time.Hour}}
	policy, err := s.CreateSLAPolicy(ctx, tenant, domain.SLAPolicyInput{Name: &name, Condition: &cond, Targets: &targets})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	tp := func(d time.Duration) *time.Time { t := t0.Add(d); return &t }
	clock := func(metric string, due time.Duration) *domain.SLAClock {
		return &domain.SLAClock{Metric: metric, PolicyID: policy.ID, Target: time.Hour, Elapsed: time.Minute, RunningSince: tp(0), DueAt: tp(due), WarningAt: tp(due / 2)}
	}
	save := func(plan ...domain.ClockChange) []store.TimerChange {
		t.Helper()
		var out []store.TimerChange
		err := s.InTx(ctx, func(tx *store.Conn) error {
			var err error
			out, err = tx.SaveClocks(ctx, tenant, ticket, plan)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	got := save(
		domain.ClockChange{Metric: domain.SLAFirstReply, Clock: clock(domain.SLAFirstReply, time.Hour), Next: &domain.ClockMark{Type: domain.EventSLAWarning, DueAt: t0.Add(30 * time.Minute)}},
		domain.ClockChange{Metric: domain.SLAResolution, Clock: clock(domain.SLAResolution, 4*time.Hour), Next: &domain.ClockMark{Type: domain.EventSLABreached, DueAt: t0.Add(4 * time.Hour)}})
	if len(got) != 2 || got[0].Armed == nil || got[0].ID != store.SLATimerID(ticket, domain.SLAFirstReply) || !got[0].Armed.DueAt.Equal(t0.Add(30*time.Minute)) ||
		got[1].Armed == nil || got[1].ID != store.SLATimerID(ticket, domain.SLAResolution) || got[1].Armed.Generation <= 0 {
		t.Fatalf("first save: %+v", got)
	}
	armedAt := got[1].Armed.Generation
	clocks, err := s.TicketClocks(ctx, ticket)
	if err != nil || len(clocks) != 2 || clocks[domain.SLAResolution].Elapsed != time.Minute || !clocks[domain.SLAResolution].DueAt.Equal(t0.Add(4*time.Hour)) ||
		clocks[domain.SLAFirstReply].PolicyID != policy.ID {
		t.Fatalf("clocks %+v %v", clocks, err)
	}

	// The same marks again: nothing new to tell Temporal. Then the first reply's mark
	// moves, and the resolution clock goes.
	if got := save(domain.ClockChange{Metric: domain.SLAFirstReply, Clock: clock(domain.SLAFirstReply, time.Hour),
		Next: &domain.ClockMark{Type: domain.EventSLAWarning, DueAt: t0.Add(30 * time.Minute)}}); len(got) != 0 {
		t.Errorf("the same mark again: %+v", got)
	}
	got = save(
		domain.ClockChange{Metric: domain.SLAFirstReply, Clock: clock(domain.SLAFirstReply, time.Hour), Next: &domain.ClockMark{Type: domain.EventSLABreached, DueAt: t0.Add(time.Hour)}},
		domain.ClockChange{Metric: domain.SLAResolution})
	if len(got) != 2 || got[0].Armed == nil || got[0].Armed.Generation <= armedAt || got[1].Armed != nil || got[1].Generation <= armedAt {
		t.Fatalf("moved and dropped: %+v", got)
	}
	clocks, _ = s.TicketClocks(ctx, ticket)
	if len(clocks) != 1 || clocks[domain.SLAFirstReply] == nil {
		t.Errorf("clocks after the drop: %+v", clocks)
	}

	// Paused: the clock is kept, its timer disarmed; disarming with none armed says nothing.
	paused := &domain.SLAClock{Metric: domain.SLAFirstReply, PolicyID: policy.ID, Target: time.Hour, Elapsed: 20 * time.Minute, AchievedAt: tp(20 * time.Minute)}
	if got := save(domain.ClockChange{Metric: domain.SLAFirstReply, Clock: paused}); len(got) != 1 || got[0].Armed != nil {
		t.Errorf("paused: %+v", got)
	}
	if got := save(domain.ClockChange{Metric: domain.SLAFirstReply, Clock: paused}); len(got) != 0 {
		t.Errorf("paused again: %+v", got)
	}
	clocks, _ = s.TicketClocks(ctx, ticket)
	if c := clocks[domain.SLAFirstReply]; c.RunningSince != nil || c.DueAt != nil || c.AchievedAt == nil || c.Elapsed != 20*time.Minute {
		t.Errorf("paused clock %+v", c)
	}
	if got := save(); got != nil {
		t.Errorf("an empty plan: %+v", got)
	}
}
