package store_test

import (
	"context"
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
