package automations

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
)

// TestOutboxCatchUp (make bench, THREADA_BENCH=1) measures how fast workers consume a
// backlog of 50,000 ticket.updated events: for a tenant whose rule evaluates every event
// (and matches none), for a tenant with no automation (consumed in the claim itself), and
// the first case with two workers.
func TestOutboxCatchUp(t *testing.T) {
	if os.Getenv("THREADA_BENCH") == "" {
		t.Skip("a benchmark: make bench runs it")
	}
	backlog := 50_000
	if n, err := strconv.Atoi(os.Getenv("OUTBOX_BACKLOG")); err == nil {
		backlog = n
	}
	for _, tc := range []struct {
		name    string
		rule    bool
		workers int
	}{
		{"rule evaluated on every event, one worker", true, 1},
		{"rule evaluated on every event, two workers", true, 2},
		{"no automation for the event (claim only), one worker", false, 1},
	} {
		f := newFixture(t)
		if tc.rule {
			f.automation(f.tenant, "urgent", `ticket.priority == "urgent" && has_tag("vip")`, []string{domain.EventTicketUpdated}, tags("seen"))
		}
		f.update(domain.TicketUpdate{Subject: ptr("template")})
		// The backlog: copies of that event, each for its own ticket, so that no ticket's
		// order holds them back.
		if _, err := f.store.DB().ExecContext(context.Background(), `
			INSERT INTO ticket_events (id, tenant_id, ticket_id, type, actor, depth, chain, payload, occurred_at)
			SELECT e.id || '_' || i, e.tenant_id, e.ticket_id || '_' || i, e.type, e.actor, e.depth, e.chain, e.payload,
				e.occurred_at + i * interval '1 microsecond'
			FROM ticket_events e, generate_series(1, ?) AS i
			WHERE e.processed_at IS NULL`, backlog-1); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.DB().ExecContext(context.Background(), "ANALYZE ticket_events"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		done := make(chan struct{})
		for range tc.workers {
			go func() { f.engine.Drain(context.Background()); done <- struct{}{} }()
		}
		for range tc.workers {
			<-done
		}
		elapsed := time.Since(start)
		if n, err := f.store.PendingEvents(context.Background()); err != nil || n != 0 {
			t.Fatalf("%d events left (%v)", n, err)
		}
		fmt.Printf("| %s | %d | %.1f s | %.0f events/s |\n", tc.name, backlog, elapsed.Seconds(), float64(backlog)/elapsed.Seconds())
	}
}
