package store_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/threada/threada/internal/dbtest"
)

// TestEveryForeignKeyHasAnIndex: deleting a referenced row makes PostgreSQL look for the
// rows that reference it; without an index led by one of the foreign key's columns (whole,
// or partial on that column being set) each such look reads the whole referencing table.
// Deletions (tickets, retention, offboarding) run in batches and would take minutes.
func TestEveryForeignKeyHasAnIndex(t *testing.T) {
	s := dbtest.New(t)
	var missing []string
	err := s.DB().NewRaw(`
		SELECT c.conname FROM pg_constraint c
		WHERE c.contype = 'f' AND NOT EXISTS (
			SELECT 1 FROM pg_index i
			JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = (i.indkey::int2[])[0]
			WHERE i.indrelid = c.conrelid AND a.attnum = ANY (c.conkey)
			  AND (i.indpred IS NULL OR pg_get_expr(i.indpred, i.indrelid) = '(' || a.attname || ' IS NOT NULL)'))
		ORDER BY 1`).Scan(context.Background(), &missing)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Errorf("foreign keys without an index on their referencing columns: %v", missing)
	}
}

// TestEarlierPendingEventIsOneRange: the claim asks, for each candidate, whether its ticket
// has an earlier pending event. One index led by the ticket serves that question and a
// ticket's deletion: pending events (processed_at null) sort last within their ticket, so
// the question reads only them, however long the ticket's processed history is.
func TestEarlierPendingEventIsOneRange(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := s.DB().ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	// One ticket with 20,000 processed events and 3 pending ones; 2,000 other tickets with
	// 20,000 pending events.
	exec(`INSERT INTO ticket_events (id, tenant_id, ticket_id, type, actor, depth, payload, occurred_at, processed_at)
		SELECT 'evt_' || lpad(g::text, 26, '0'), 'ten_x', CASE WHEN g <= 20003 THEN 'tkt_long' ELSE 'tkt_' || g % 2000 END,
		       'ticket.updated', 'api_key:k', 1, '{}', now() - (50000 - g) * interval '1 second',
		       CASE WHEN g <= 20000 THEN now() END
		FROM generate_series(1, 40003) g`)
	exec("ANALYZE ticket_events")
	// In the claim the ticket is the candidate's (a parameter): planned for any ticket, as
	// there, not for this one, which is half the table here.
	conn, err := s.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET plan_cache_mode = force_generic_plan;
		PREPARE earlier(text) AS SELECT 1 FROM ticket_events p
		WHERE p.ticket_id = $1 AND p.processed_at IS NULL AND (p.occurred_at, p.id) < (now(), 'evt_z')`); err != nil {
		t.Fatal(err)
	}
	var plan []string
	if err := conn.NewRaw(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE earlier('tkt_long')`).Scan(ctx, &plan); err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(plan, "\n")
	if !strings.Contains(joined, "ticket_events_ticket_state") || !strings.Contains(joined, "processed_at IS NULL") ||
		!regexp.MustCompile(`Buffers: shared hit=[1-9]\b`).MatchString(joined) {
		t.Errorf("the lookup does not read one short range of the ticket index:\n%s", joined)
	}
}
