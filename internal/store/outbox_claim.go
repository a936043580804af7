package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// The outbox, first half: workers claim events (issue 8, 21). outbox_process.go handles
// what they claimed.

// Outbox claims.
const (
	// MaxEventAttempts is how often an event is tried, a worker that died while handling it
	// included, before it is set aside (processed, dead, with its error).
	MaxEventAttempts = 5
	// eventLease is how long a claimed event is left to its worker before another may
	// take it: a worker that dies mid-event delays that event (only) by this much.
	eventLease = 30 * time.Second
	// eventRetryDelay is the pause before an event that failed is tried again.
	eventRetryDelay = time.Second
)

// claimEventsSQL claims up to ? events and commits the claim before any is evaluated.
// Tenants take turns: it takes every tenant's oldest eligible event, then every tenant's
// second, and so on (ordered by turn, then tenant). Eligible: not processed, not leased
// to a live claim, and the oldest pending event of its ticket, so a ticket's events run
// one at a time and in order. An event for which its tenant has no enabled automation of
// its type (a fired delay timer's is always wanted: it names its automation), and no
// enabled SLA policy for a ticket change to move clocks of (without one a ticket has no
// clocks: disabling a policy removes them), is marked processed here, in the same statement, and costs nothing more; the
// others get one more attempt and a lease. Per tenant the scan stops at ? candidates.
// The tenants walked are those with pending events (tenantsWithRows). It is sent as text,
// planned anew each time: prepared, its plan was made once per connection, with the
// statistics of the moment, and a plan made while the outbox was small kept scanning the
// whole pending index once it was not (287 ms a claim instead of 11 under the issue 21
// load; see prepared.go).
var claimEventsSQL = `
WITH RECURSIVE ` + tenantsWithRows("ticket_events", "processed_at IS NULL") + `, candidates AS (
	SELECT c.id, c.tenant_id, c.turn
	FROM tenants_with tn
	CROSS JOIN LATERAL (
		SELECT e.id, e.tenant_id, row_number() OVER (ORDER BY e.occurred_at, e.id) AS turn
		FROM ticket_events e
		WHERE e.tenant_id = tn.id AND e.processed_at IS NULL
		  AND (e.claimed_until IS NULL OR e.claimed_until < clock_timestamp())
		  AND NOT EXISTS (
			SELECT 1 FROM ticket_events p
			WHERE p.ticket_id = e.ticket_id AND p.processed_at IS NULL AND (p.occurred_at, p.id) < (e.occurred_at, e.id))
		ORDER BY e.occurred_at, e.id
		LIMIT ?
	) c
	ORDER BY c.turn, c.tenant_id
	LIMIT ?
), locked AS (
	SELECT e.id, c.turn, c.tenant_id,
		` + wantedSQL("e.tenant_id", "e.type") + ` AS wanted
	FROM ticket_events e JOIN candidates c ON c.id = e.id
	WHERE e.processed_at IS NULL
	FOR UPDATE OF e SKIP LOCKED
), claimed AS (
UPDATE ticket_events t SET
	attempts = t.attempts + CASE WHEN l.wanted THEN 1 ELSE 0 END,
	claimed_until = CASE WHEN l.wanted THEN clock_timestamp() + ? * interval '1 millisecond' END,
	processed_at = CASE WHEN l.wanted THEN NULL ELSE now() END
FROM locked l
WHERE t.id = l.id
RETURNING t.id, t.tenant_id, l.wanted, l.turn, t.attempts
)
SELECT c.*, (SELECT count(*) FROM candidates) AS candidates FROM claimed c
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, (SELECT count(*) FROM candidates) WHERE NOT EXISTS (SELECT 1 FROM claimed)`

// ClaimedEvent is an event ClaimEvents handed to this worker.
type ClaimedEvent struct {
	ID       string
	TenantID string
	Turn     int // its place in the tenants' rotation
	Attempts int // this one included
}

// Claim is what one ClaimEvents got.
type Claim struct {
	Events  []ClaimedEvent // to evaluate, in the order to evaluate them (tenants in turn)
	Skipped int            // marked processed at once: no automation wants them
	// Contended: events were eligible but another worker's claim, running at the same
	// moment, held every one; claiming again at once gets the next ones.
	Contended bool
}

// Empty reports whether the claim got nothing at all.
func (c Claim) Empty() bool { return len(c.Events) == 0 && c.Skipped == 0 }

// ClaimEvents claims up to n events in one statement (see claimEventsSQL).
func (s *Store) ClaimEvents(ctx context.Context, n int) (Claim, error) {
	var rows []struct {
		ID         sql.NullString `bun:"id"`
		TenantID   sql.NullString `bun:"tenant_id"`
		Wanted     sql.NullBool   `bun:"wanted"`
		Turn       sql.NullInt64  `bun:"turn"`
		Attempts   sql.NullInt64  `bun:"attempts"`
		Candidates int            `bun:"candidates"`
	}
	// The claim must walk each tenant's pending events in index order and stop at n. A
	// queue's statistics lag its growth (autovacuum analyzes it at most once a minute), and
	// when they say a tenant has a handful of pending events, the planner fetches all of them
	// with a bitmap scan and sorts them instead: 9,000 of them took 68 ms a claim in the
	// sustained-load benchmark, and the worker fell behind. Bitmap scans are off for it.
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, "SET LOCAL enable_bitmapscan = off"); err != nil {
			return err
		}
		return tx.NewRaw(claimEventsSQL, n, n, eventLease.Milliseconds()).Scan(ctx, &rows)
	})
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Claim{}, err
	}
	var c Claim
	for _, r := range rows {
		switch {
		case !r.ID.Valid: // the row that says how many candidates there were when none was claimed
			c.Contended = r.Candidates > 0
		case r.Wanted.Bool:
			c.Events = append(c.Events, ClaimedEvent{ID: r.ID.String, TenantID: r.TenantID.String, Turn: int(r.Turn.Int64), Attempts: int(r.Attempts.Int64)})
		default:
			c.Skipped++
		}
	}
	// RETURNING does not keep the candidates' order.
	slices.SortFunc(c.Events, func(a, b ClaimedEvent) int {
		return cmp.Or(cmp.Compare(a.Turn, b.Turn), strings.Compare(a.TenantID, b.TenantID))
	})
	return c, nil
}

// ReleaseEvents gives back claimed events this worker will not get to (its batch ran out
// of time): their attempt is not counted and any worker may take them at once.
func (s *Store) ReleaseEvents(ctx context.Context, ids []string) error {
	return s.updateClaimed(ctx, ids, "attempts = attempts - 1, claimed_until = NULL")
}

// RetryEventsSoon shortens the lease of claimed events whose batch failed, so that they
// are tried again after eventRetryDelay (their attempt stays counted).
func (s *Store) RetryEventsSoon(ctx context.Context, ids []string) error {
	return s.updateClaimed(ctx, ids, "claimed_until = clock_timestamp() + ? * interval '1 millisecond'", eventRetryDelay.Milliseconds())
}

// updateClaimed applies set to those of the claimed events ids not yet processed.
func (s *Store) updateClaimed(ctx context.Context, ids []string, set string, args ...any) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.db.NewUpdate().Table("ticket_events").Set(set, args...).
		Where("id IN (?) AND processed_at IS NULL", bun.In(ids)).Exec(ctx)
	return err
}
