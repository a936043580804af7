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

// TestGauges: the outbox backlog and its oldest event, and the circuits by state, as the
// worker's metrics read them.
func TestGauges(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	g, err := s.Gauges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g != (store.Gauges{}) {
		t.Fatalf("an empty database: %+v", g)
	}

	tenant := newTenant(t, s)
	before := time.Now().Add(-time.Second)
	for range 3 {
		if _, err := s.CreateTicket(ctx, tenant, domain.TicketCreate{Subject: "s", Status: "open", Priority: "normal", Channel: "api"}); err != nil {
			t.Fatal(err)
		}
	}
	// One destination closed after an answer, one opened by failures.
	ok := newAction(t, s, tenant, "https://ok.example.com/x", 1)
	startAttempt(t, s, ok, domain.Destination("https://ok.example.com/x"), 100)
	if _, err := s.RecordAttempt(ctx, ok, store.AttemptResult{Attempt: 1, Status: domain.ActionSucceeded, Outcome: domain.AttemptSucceeded,
		Destination: domain.Destination("https://ok.example.com/x")}); err != nil {
		t.Fatal(err)
	}
	bad := domain.Destination("https://down.example.com/x")
	for range domain.CircuitFailures {
		id := newAction(t, s, tenant, "https://down.example.com/x", 1)
		startAttempt(t, s, id, bad, 100)
		if _, err := s.RecordAttempt(ctx, id, store.AttemptResult{Attempt: 1, Status: domain.ActionFailed, Outcome: domain.AttemptFailed,
			Destination: bad, DestinationFailed: true}); err != nil {
			t.Fatal(err)
		}
	}

	g, err = s.Gauges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Each ticket created (3 here, 1 + CircuitFailures through newAction) left a pending event.
	if want := int64(3 + 1 + domain.CircuitFailures); g.PendingEvents != want {
		t.Errorf("pending events %d, want %d", g.PendingEvents, want)
	}
	if g.OldestPending == nil || g.OldestPending.Before(before) || g.OldestPending.After(time.Now()) {
		t.Errorf("oldest pending event at %v, want just after %v", g.OldestPending, before)
	}
	if g.OpenCircuits != 1 || g.ClosedCircuits != 1 {
		t.Errorf("circuits: %d open, %d closed; want 1 and 1", g.OpenCircuits, g.ClosedCircuits)
	}
}

// TestOldestPendingAcrossTenants: the oldest pending event is the least of every tenant's
// oldest (each read from its own end of the pending index), whichever tenant holds it, and
// a processed event, however old, does not count.
func TestOldestPendingAcrossTenants(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	want := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, tenant := range []string{"ten_a", "ten_b", "ten_c"} {
		for j, at := range []time.Time{want.Add(time.Duration(3-i) * time.Hour), want.Add(time.Duration(10+i) * time.Hour)} {
			exec(t, s, `INSERT INTO ticket_events (id, tenant_id, ticket_id, type, actor, depth, payload, occurred_at)
				VALUES (?, ?, ?, 'ticket.updated', 'api', 1, '{}', ?)`, fmt.Sprintf("evt_%d_%d", i, j), tenant, fmt.Sprintf("tkt_%d_%d", i, j), at)
		}
	}
	exec(t, s, `INSERT INTO ticket_events (id, tenant_id, ticket_id, type, actor, depth, payload, occurred_at, processed_at)
		VALUES ('evt_done', 'ten_a', 'tkt_done', 'ticket.updated', 'api', 1, '{}', ?, now())`, want.Add(-time.Hour))
	g, err := s.Gauges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// ten_c's first event is the oldest pending: want + 1 h.
	if g.OldestPending == nil || !g.OldestPending.Equal(want.Add(time.Hour)) || g.PendingEvents != 6 {
		t.Errorf("oldest pending %v of %d, want %v of 6", g.OldestPending, g.PendingEvents, want.Add(time.Hour))
	}
}
