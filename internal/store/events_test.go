package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
)

// TestDeleteProcessedEventsInBatches: events that occurred before the cutoff and were
// processed go, in batches, however many there are; pending ones, whatever their age, and
// recent ones stay. Their ids carry their time, as the API's do.
func TestDeleteProcessedEventsInBatches(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	old, recent := time.Now().Add(-10*24*time.Hour), time.Now()
	var ids []string
	var processed []bool
	for i := range 2520 {
		at := old
		if i >= 2500 && i < 2510 {
			at = recent // processed, recent: stays
		}
		ids = append(ids, domain.DerivedID(domain.PrefixEvent, at.Add(time.Duration(i)*time.Millisecond), fmt.Sprint(i)))
		processed = append(processed, i < 2510) // the last 10 are old and pending: stay
	}
	if _, err := s.DB().ExecContext(ctx, `
		INSERT INTO ticket_events (id, tenant_id, ticket_id, type, actor, depth, payload, occurred_at, processed_at)
		SELECT e.id, 'ten_x', 'tkt_' || e.id, 'ticket.updated', 'api_key:k', 1, '{}', now(), CASE WHEN e.done THEN now() END
		FROM unnest(?::text[], ?::boolean[]) AS e(id, done)`, pgdialect.Array(ids), pgdialect.Array(processed)); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteProcessedEvents(ctx, time.Now().Add(-7*24*time.Hour))
	if err != nil || n != 2500 {
		t.Fatalf("deleted %d (%v), want 2500", n, err)
	}
	var left []string
	want := slices.Sorted(slices.Values(ids[2500:]))
	if err := s.DB().NewRaw("SELECT id FROM ticket_events ORDER BY id").Scan(ctx, &left); err != nil || !slices.Equal(left, want) {
		t.Fatalf("left %d events (%v), want the 10 recent and the 10 pending", len(left), err)
	}
}
