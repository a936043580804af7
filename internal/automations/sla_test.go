package automations

import (
	"context"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// TestSLAClocksInBusinessHours feeds the engine a ticket's events at chosen times against
// a policy in Berlin office hours (09:00-12:00, 13:00-17:00 on weekdays): created Friday
// 15:00, answered by an agent at 15:20, pending at 15:30, open again Monday 10:00. The
// first reply is achieved; the resolution clock pauses over the pending weekend and is due
// Monday 14:30 (3.5 business hours left, lunch skipped), its timer armed for the warning
// at 75% (13:30).
func TestSLAClocksInBusinessHours(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	day := []domain.HoursRange{{Start: "09:00", End: "12:00"}, {Start: "13:00", End: "17:00"}}
	cal := &domain.BusinessCalendar{TimeZone: "Europe/Berlin", Weekly: map[string][]domain.HoursRange{
		"monday": day, "tuesday": day, "wednesday": day, "thursday": day, "friday": day}}
	name, cond := "Standard", `ticket.channel == "api"`
	targets := map[string]domain.SLATarget{domain.PriorityNormal: {FirstReply: time.Hour, Resolution: 4 * time.Hour}}
	in := domain.SLAPolicyInput{Name: &name, Condition: &cond, Targets: &targets, Calendar: cal}
	if err := in.CheckStatic(true); err != nil {
		t.Fatal(err)
	}
	policy, err := f.store.CreateSLAPolicy(ctx, f.tenant, in)
	if err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, berlin).UTC() }
	created := at(27, 15, 0)
	ticket := domain.Ticket{ID: f.ticket, TenantID: f.tenant, Subject: "s", Status: domain.StatusOpen, Priority: domain.PriorityNormal,
		Channel: domain.ChannelAPI, Tags: []string{}, CreatedAt: created}
	handle := func(typ string, when time.Time, status string, msg *domain.Message) {
		t.Helper()
		tk := ticket
		tk.Status = status
		ev := &domain.TicketEvent{ID: domain.NewID(domain.PrefixEvent), TenantID: f.tenant, TicketID: f.ticket, Type: typ,
			Origin: domain.Origin{Actor: "api_key:key_test", Depth: 1}, OccurredAt: when, Ticket: tk, Message: msg,
			Changes: map[string]domain.FieldChange{}}
		if err := f.store.InTx(ctx, func(tx *store.Conn) error { _, err := f.engine.Handle(ctx, tx, ev); return err }); err != nil {
			t.Fatal(err)
		}
	}
	handle(domain.EventTicketCreated, created, domain.StatusOpen, nil)
	clocks, err := f.store.TicketClocks(ctx, f.ticket)
	if err != nil || clocks[domain.SLAResolution] == nil || !clocks[domain.SLAResolution].DueAt.Equal(at(30, 11, 0)) ||
		!clocks[domain.SLAFirstReply].DueAt.Equal(at(27, 16, 0)) || clocks[domain.SLAResolution].PolicyID != policy.ID {
		t.Fatalf("at creation: %+v %v", clocks, err)
	}
	handle(domain.EventMessageCreated, at(27, 15, 20), domain.StatusOpen, &domain.Message{Role: domain.RoleAgent, CreatedAt: at(27, 15, 20)})
	handle(domain.EventTicketUpdated, at(27, 15, 30), domain.StatusPending, nil)
	clocks, _ = f.store.TicketClocks(ctx, f.ticket)
	if r := clocks[domain.SLAResolution]; r.RunningSince != nil || r.DueAt != nil || r.Elapsed != 30*time.Minute {
		t.Fatalf("pending: %+v", r)
	}
	if fr := clocks[domain.SLAFirstReply]; fr.AchievedAt == nil || !fr.AchievedAt.Equal(at(27, 15, 20)) || fr.RunningSince != nil || fr.Breached {
		t.Fatalf("first reply: %+v", fr)
	}
	handle(domain.EventTicketUpdated, at(30, 10, 0), domain.StatusOpen, nil)
	clocks, _ = f.store.TicketClocks(ctx, f.ticket)
	if r := clocks[domain.SLAResolution]; r.DueAt == nil || !r.DueAt.Equal(at(30, 14, 30)) || r.WarningAt == nil || !r.WarningAt.Equal(at(30, 13, 30)) {
		t.Fatalf("reopened: %+v", r)
	}
	var timers []struct {
		ID    string    `bun:"id"`
		DueAt time.Time `bun:"due_at"`
		Type  string    `bun:"type"`
	}
	if err := f.store.DB().NewRaw("SELECT id, due_at, event->>'type' AS type FROM ticket_timers WHERE ticket_id = ? ORDER BY id", f.ticket).Scan(ctx, &timers); err != nil {
		t.Fatal(err)
	}
	if len(timers) != 1 || timers[0].ID != store.SLATimerID(f.ticket, domain.SLAResolution) || !timers[0].DueAt.Equal(at(30, 13, 30)) || timers[0].Type != domain.EventSLAWarning {
		t.Fatalf("timers %+v (the achieved first reply keeps none; resolution waits for its warning)", timers)
	}

	// Solved: the clock stops, achieved, and its timer goes.
	handle(domain.EventTicketUpdated, at(30, 11, 0), domain.StatusSolved, nil)
	clocks, _ = f.store.TicketClocks(ctx, f.ticket)
	if r := clocks[domain.SLAResolution]; r.AchievedAt == nil || r.RunningSince != nil || r.Breached {
		t.Fatalf("solved: %+v", r)
	}
	var left int
	if err := f.store.DB().NewRaw("SELECT count(*) FROM ticket_timers WHERE ticket_id = ?", f.ticket).Scan(ctx, &left); err != nil || left != 0 {
		t.Fatalf("timers left: %d %v", left, err)
	}
}
