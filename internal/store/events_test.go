package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/threada/threada/internal/dbtest"
)

// TestDeleteProcessedEventsInBatches: old processed events go, in batches, however many
// there are; pending ones and recently processed ones stay.
func TestDeleteProcessedEventsInBatches(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	if _, err := s.DB().ExecContext(ctx, `
		INSERT INTO ticket_events (id, tenant_id, ticket_id, type, actor, depth, payload, occurred_at, processed_at)
		SELECT 'evt_old_' || i, 'ten_x', 'tkt_' || i, 'ticket.updated', 'api_key:k', 1, '{}', now() - interval '10 days',
			CASE WHEN i <= 2500 THEN now() - interval '9 days' WHEN i <= 2510 THEN now() END
		FROM generate_series(1, 2520) AS i`); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteProcessedEvents(ctx, time.Now().Add(-7*24*time.Hour))
	if err != nil || n != 2500 {
		t.Fatalf("deleted %d (%v), want 2500", n, err)
	}
	var left int
	if err := s.DB().NewRaw("SELECT count(*) FROM ticket_events").Scan(ctx, &left); err != nil || left != 20 {
		t.Fatalf("%d events left (%v), want the 10 recent and 10 pending", left, err)
	}
}
