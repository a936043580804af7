package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

// EventsChannel is the LISTEN/NOTIFY channel told of every new ticket event.
const EventsChannel = "ticket_events"

type eventPayload struct {
	Ticket   domain.Ticket  `json:"ticket"`
	Previous *domain.Ticket `json:"previous,omitempty"`
	// Changes is left out of a ticket.created event's payload, where it would repeat the
	// ticket (every field, from nothing): toDomain derives it. A fifth of the row, written
	// with every create and read back by the outbox (issue 21).
	Changes map[string]domain.FieldChange `json:"changes,omitempty"`
	Message *domain.Message               `json:"message,omitempty"`
	// A fired timer's event (automation.delay_elapsed, sla.*): see domain.TicketEvent.
	Armed      *domain.ArmingEvent `json:"armed,omitempty"`
	Automation string              `json:"automation,omitempty"`
	SLA        *domain.SLAMark     `json:"sla,omitempty"`
}

type eventRow struct {
	bun.BaseModel `bun:"table:ticket_events"`

	ID          string         `bun:"id,pk"`
	TenantID    string         `bun:"tenant_id"`
	TicketID    string         `bun:"ticket_id"`
	Type        string         `bun:"type"`
	Actor       string         `bun:"actor"`
	Depth       int            `bun:"depth"`
	Chain       []string       `bun:"chain,array"`
	CausedBy    sql.NullString `bun:"caused_by"`
	Payload     eventPayload   `bun:"payload,type:jsonb"`
	OccurredAt  time.Time      `bun:"occurred_at"`
	ProcessedAt *time.Time     `bun:"processed_at"`
	Attempts    int            `bun:"attempts"`
	LastError   sql.NullString `bun:"last_error"`
}

func (r *eventRow) toDomain() *domain.TicketEvent {
	chain := r.Chain
	if chain == nil {
		chain = []string{}
	}
	switch {
	case r.Payload.Changes != nil:
	case r.Type == domain.EventTicketCreated && r.Payload.Previous == nil:
		r.Payload.Changes = domain.Diff(nil, &r.Payload.Ticket)
	default:
		r.Payload.Changes = map[string]domain.FieldChange{} // written empty, so left out
	}
	return &domain.TicketEvent{
		ID: r.ID, TenantID: r.TenantID, TicketID: r.TicketID, Type: r.Type,
		Origin:     domain.Origin{Actor: r.Actor, Depth: r.Depth, Chain: chain, CausedBy: r.CausedBy.String},
		OccurredAt: r.OccurredAt.UTC(), Ticket: r.Payload.Ticket, Previous: r.Payload.Previous,
		Changes: r.Payload.Changes, Message: r.Payload.Message,
		Armed: r.Payload.Armed, Automation: r.Payload.Automation, SLA: r.Payload.SLA,
	}
}

// writeEvent records a ticket change in the transaction that made it, stamped with the
// origin ctx carries, and notifies consumers when the transaction commits.
func (s *Conn) writeEvent(ctx context.Context, typ string, before *domain.Ticket, after domain.Ticket, msg *domain.Message, at time.Time) error {
	if _, err := s.eventInsert(ctx, typ, before, after, msg, at).Exec(ctx); err != nil {
		return err
	}
	s.AfterCommit(ctx, func(context.Context) { s.root.notifyEvents() })
	return nil
}

// eventInsert is the INSERT of a ticket change's event, for a caller that sends it with
// other statements in one round trip; it calls notifyEvents after commit itself.
func (s *Conn) eventInsert(ctx context.Context, typ string, before *domain.Ticket, after domain.Ticket, msg *domain.Message, at time.Time) *bun.InsertQuery {
	return s.db.NewInsert().Model(newEventRow(ctx, typ, before, after, msg, at))
}

func newEventRow(ctx context.Context, typ string, before *domain.Ticket, after domain.Ticket, msg *domain.Message, at time.Time) *eventRow {
	o := domain.OriginFrom(ctx)
	depth := max(o.Depth, 1) // a chain starts at 1 with the change an API client made
	chain := o.Chain
	if chain == nil {
		chain = []string{}
	}
	row := &eventRow{
		ID: domain.NewID(domain.PrefixEvent), TenantID: after.TenantID, TicketID: after.ID, Type: typ,
		Actor: o.Actor, Depth: depth, Chain: chain, CausedBy: nullString(o.CausedBy),
		Payload:    eventPayload{Ticket: after, Previous: before, Message: msg},
		OccurredAt: at,
	}
	if typ != domain.EventTicketCreated || before != nil {
		row.Payload.Changes = domain.Diff(before, &after)
	}
	return row
}

// eventColumns are the columns a new event sets.
var eventColumns = []string{"id", "tenant_id", "ticket_id", "type", "actor", "depth", "chain", "caused_by", "payload", "occurred_at"}

// execIf runs with, the data-modifying CTEs of a conditional change (text such as
// "w AS (UPDATE ... RETURNING id)" with its args, the last one named w), and in the same
// statement inserts the change's event only if w returned a row: one round trip for a
// change and its event. It reports whether w returned a row.
func (s *Conn) execIf(ctx context.Context, with string, args []any, typ string, before *domain.Ticket, after domain.Ticket, msg *domain.Message, at time.Time) (bool, error) {
	values := s.db.NewValues(newEventRow(ctx, typ, before, after, msg, at)).Column(eventColumns...)
	cols := bun.Safe(strings.Join(eventColumns, ", "))
	args = append(args, cols, values, cols)
	res, err := s.db.NewRaw("WITH "+with+", v (?) AS (?) INSERT INTO ticket_events (?) SELECT v.* FROM v WHERE EXISTS (SELECT 1 FROM w)", args...).Exec(ctx)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if n == 1 {
		s.AfterCommit(ctx, func(context.Context) { s.root.notifyEvents() })
	}
	return n == 1, err
}

// notifyEvents asks for a NOTIFY on EventsChannel without waiting for it. A NOTIFY inside
// the writing transaction would take PostgreSQL's global notify lock at every commit
// (a third of ticket write throughput, measured); instead one goroutine sends them after
// commit, one at a time, and requests made while one is in flight fold into the next.
func (s *Store) notifyEvents() {
	s.notifyOnce.Do(func() {
		s.notifyWake = make(chan struct{}, 1)
		go s.notifyLoop()
	})
	select {
	case s.notifyWake <- struct{}{}:
	default: // one is already due; it covers this event too
	}
}

func (s *Store) notifyLoop() {
	for {
		select {
		case <-s.closed:
			return
		case <-s.notifyWake:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		// A lost notification only delays consumers until their next poll.
		_, _ = s.db.ExecContext(ctx, "SELECT pg_notify(?, '')", EventsChannel)
		cancel()
		// At most one notification per notifyEvery: each is a transaction that wakes every
		// listener, and under load they cost the database more than they told anyone.
		select {
		case <-s.closed:
			return
		case <-time.After(notifyEvery):
		}
	}
}

// notifyEvery is the least time between two notifications from one process.
const notifyEvery = 5 * time.Millisecond

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

// ProcessNextEvent claims one event and runs fn on it (see ClaimEvents and
// ProcessClaimedEvents), returning fn's error. It returns the event's tenant, or "" when
// no event waits for an automation.
func (s *Store) ProcessNextEvent(ctx context.Context, fn EventFunc) (string, error) {
	for {
		c, err := s.ClaimEvents(ctx, 1)
		if err != nil {
			return "", err
		}
		if len(c.Events) > 0 {
			ev := c.Events[0]
			_, errs, err := s.ProcessClaimedEvents(ctx, []string{ev.ID}, time.Time{}, fn)
			if err != nil {
				return ev.TenantID, err
			}
			return ev.TenantID, errs[0]
		}
		if c.Empty() && !c.Contended {
			return "", nil
		}
	}
}

// ProcessClaimedEvents runs fn on claimed events, in order, in one transaction that also
// records their runs and marks each processed: an event's effects, its runs and its mark
// commit together, or none does, and a batch costs one commit and one insert of runs.
// First the batch runs straight through; if an event fails, that is rolled back and the
// batch runs again with each event in a savepoint, so one that fails undoes only its own
// effects: it waits eventRetryDelay with its error, and after MaxEventAttempts attempts it
// is set aside, its tenant's automations getting a run that says so. The claims (one more
// attempt each) were committed before, so a worker that dies while evaluating still used
// an attempt; ClaimEvents hands an event that was already tried out alone, so a poison
// event cannot use up the attempts of its batch-mates. Past until (if set) it stops and
// returns how many it processed; the rest are still claimed. errs holds fn's error for
// each event processed.
func (s *Store) ProcessClaimedEvents(ctx context.Context, ids []string, until time.Time, fn EventFunc) (done int, errs []error, err error) {
	done, errs, err = s.processBatch(ctx, ids, until, fn, false)
	if errors.Is(err, errEventFailed) {
		done, errs, err = s.processBatch(ctx, ids, until, fn, true)
	}
	return done, errs, err
}

// errEventFailed ends a batch run straight through when one of its events fails.
var errEventFailed = errors.New("store: an event of the batch failed")

func (s *Store) processBatch(ctx context.Context, ids []string, until time.Time, fn EventFunc, careful bool) (done int, errs []error, err error) {
	err = s.InTx(ctx, func(tx *Conn) error {
		done, errs = 0, errs[:0]
		// The batch's prepared statements (batch_sql.go) are planned for the values at hand:
		// a plan kept from when a table was small would outlive its size.
		if _, err := tx.db.ExecContext(ctx, "SET LOCAL plan_cache_mode = force_custom_plan"); err != nil {
			return err
		}
		// By id alone, so that only the primary key can serve it: with "processed_at IS
		// NULL" in the query, a planner whose statistics lag the outbox's growth ANDed the
		// key with the pending events' partial index and read all of that index for every
		// batch (issue 21: a tenth of the database's CPU under load). Locked rows are read as
		// their latest version, so one another worker processed meanwhile shows as such.
		var rows []eventRow
		if err := tx.scanPrepared(ctx, lockEventsSQL, &rows, textArray(ids)); err != nil {
			return err
		}
		byID := make(map[string]*eventRow, len(rows))
		for i := range rows {
			if rows[i].ProcessedAt == nil {
				byID[rows[i].ID] = &rows[i]
			}
		}
		var processed []string
		var runs []domain.AutomationRun
		for _, id := range ids {
			if done > 0 && !until.IsZero() && time.Now().After(until) {
				break
			}
			done++
			row, ok := byID[id]
			if !ok {
				errs = append(errs, nil) // another worker finished it after our lease ran out
				continue
			}
			if row.Attempts > MaxEventAttempts {
				errs = append(errs, nil)
				if err := tx.setEventAside(ctx, row, "the worker stopped while handling it"); err != nil {
					return err
				}
				continue
			}
			if !careful {
				r, err := fn(ctx, tx, row.toDomain())
				if err != nil {
					return errEventFailed
				}
				errs, runs, processed = append(errs, nil), append(runs, r...), append(processed, id)
				continue
			}
			fnErr, err := tx.processEvent(ctx, row, fn)
			if err != nil {
				return err
			}
			errs = append(errs, fnErr)
			if fnErr == nil {
				processed = append(processed, id)
			}
		}
		if err := tx.FlushTicketWrites(ctx); err != nil {
			if careful {
				return err
			}
			return errEventFailed // each event's own, in the careful run, says whose
		}
		if err := tx.RecordRuns(ctx, runs); err != nil {
			return err
		}
		if len(processed) == 0 {
			return nil
		}
		_, err := tx.execPrepared(ctx, markProcessedSQL, now(), textArray(processed))
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return done, errs, nil
}

// The batch's statements, prepared (see prepared.go): an id list is one array parameter,
// so every batch, whatever its size, runs the one statement.
var (
	lockEventsSQL = newPrepared(`SELECT id, tenant_id, ticket_id, type, actor, depth, chain, caused_by, payload, occurred_at, processed_at, attempts, last_error
	FROM ticket_events WHERE id = ANY ($1::text[]) FOR UPDATE`)
	markProcessedSQL = newPrepared(`UPDATE ticket_events SET processed_at = $1 WHERE id = ANY ($2::text[])`)
)

// EventFunc handles one claimed event: it writes the event's effects through tx, the
// transaction that marks the event processed, and returns the runs to record for it.
type EventFunc func(ctx context.Context, tx *Conn, ev *domain.TicketEvent) ([]domain.AutomationRun, error)

// processEvent runs fn on one locked event in a savepoint, with its runs; the caller marks
// it processed when fn succeeded.
func (tx *Conn) processEvent(ctx context.Context, row *eventRow, fn EventFunc) (fnErr, err error) {
	// A savepoint, so a failing fn undoes its own effects but not the bookkeeping.
	fnErr = tx.inSavepoint(ctx, func() error {
		runs, err := fn(ctx, tx, row.toDomain())
		if err == nil {
			err = tx.FlushTicketWrites(ctx)
		}
		if err != nil {
			return err
		}
		return tx.RecordRuns(ctx, runs)
	})
	if fnErr != nil {
		return fnErr, tx.noteEventFailure(ctx, row, fnErr)
	}
	return nil, nil
}

// inSavepoint runs fn so that its failure undoes its writes, and forgets the after-commit
// work it registered, while the enclosing transaction goes on.
func (tx *Conn) inSavepoint(ctx context.Context, fn func() error) error {
	hooks, deferred := len(tx.tx.after), len(tx.tx.deferred)
	if _, err := tx.db.ExecContext(ctx, "SAVEPOINT process_event"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		tx.tx.after = tx.tx.after[:hooks]
		tx.tx.deferred = tx.tx.deferred[:deferred]
		if _, rerr := tx.db.ExecContext(ctx, "ROLLBACK TO SAVEPOINT process_event"); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	_, err := tx.db.ExecContext(ctx, "RELEASE SAVEPOINT process_event")
	return err
}

func (tx *Conn) noteEventFailure(ctx context.Context, row *eventRow, cause error) error {
	if row.Attempts >= MaxEventAttempts {
		return tx.setEventAside(ctx, row, cause.Error())
	}
	_, err := tx.db.NewUpdate().Table("ticket_events").
		Set("last_error = ?", cause.Error()).
		Set("claimed_until = clock_timestamp() + ? * interval '1 millisecond'", eventRetryDelay.Milliseconds()).
		Where("id = ?", row.ID).Exec(ctx)
	return err
}

// setEventAside ends an event that kept failing: it is marked processed and dead with its
// error, and each of the tenant's automations that would have evaluated it gets a run
// saying so, so the run history shows it.
func (tx *Conn) setEventAside(ctx context.Context, row *eventRow, cause string) error {
	reason := fmt.Sprintf("event set aside after %d attempts: %s", row.Attempts, cause)
	if _, err := tx.db.NewUpdate().Table("ticket_events").
		Set("processed_at = ?", now()).Set("dead = true").Set("last_error = ?", reason).
		Where("id = ?", row.ID).Exec(ctx); err != nil {
		return err
	}
	autos, err := tx.EnabledAutomations(ctx, row.TenantID, row.Type)
	if err != nil {
		return err
	}
	runs := make([]domain.AutomationRun, len(autos))
	for i, a := range autos {
		runs[i] = domain.AutomationRun{TenantID: row.TenantID, AutomationID: a.ID, AutomationVersion: a.Version,
			EventID: row.ID, EventType: row.Type, TicketID: row.TicketID, Error: reason}
	}
	return tx.RecordRuns(ctx, runs)
}

// PendingEvents counts events not yet processed.
func (s *Store) PendingEvents(ctx context.Context) (int64, error) {
	return s.db.NewSelect().Table("ticket_events").Where("processed_at IS NULL").Count(ctx)
}

// deleteBatch is how many processed events one DELETE removes.
const deleteBatch = 1000

// DeleteProcessedEvents removes processed events that occurred before the cutoff,
// deleteBatch at a time, each batch its own short statement, so no writer ever waits on it
// (the rows it deletes are processed: nothing else updates them); runs keep their ids. It
// reads the primary key: event ids begin with their creation time (domain.FirstIDAt), so
// "occurred before" is a range of it, and no index on processed_at has to be written with
// every event the outbox processes (issue 22). Pending events are skipped, whatever their
// age. A batched delete rather than daily partitions: partitions would make the cleanup a
// DROP but put occurred_at into every key and need partitions created ahead of time.
func (s *Store) DeleteProcessedEvents(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	bound := domain.FirstIDAt(domain.PrefixEvent, before)
	from := "" // each batch starts after the last one's rows, not over their dead index entries
	for {
		var n int64
		var last sql.NullString
		err := s.db.NewRaw(`WITH gone AS (
			DELETE FROM ticket_events WHERE id IN (
				SELECT id FROM ticket_events WHERE id > ? AND id < ? AND processed_at IS NOT NULL ORDER BY id LIMIT ?)
			RETURNING id)
		SELECT count(*), max(id) FROM gone`, from, bound, deleteBatch).Scan(ctx, &n, &last)
		total += n
		if err != nil || n < deleteBatch {
			return total, err
		}
		from = last.String
	}
}

// EventCursor is a position in a tenant's event history (occurred_at desc, id desc).
type EventCursor struct {
	OccurredAt time.Time
	ID         string
}

// RecentEvents returns up to limit of a tenant's events of the given types that occurred
// since, newest first, after the cursor: processed or not, as they happened. Each type is
// one ordered range of the (tenant_id, type, occurred_at, id) index and the ranges are
// merged, so a page costs its rows whether the types are rare or common (issue 22).
func (s *Conn) RecentEvents(ctx context.Context, tenantID string, types []string, since time.Time, after *EventCursor, limit int) ([]*domain.TicketEvent, error) {
	var union *bun.SelectQuery
	for _, typ := range slices.Compact(slices.Sorted(slices.Values(types))) {
		q := s.db.NewSelect().Model((*eventRow)(nil)).Where("tenant_id = ? AND type = ? AND occurred_at >= ?", tenantID, typ, since)
		if after != nil {
			q = q.Where("(occurred_at, id) < (?, ?)", after.OccurredAt, after.ID)
		}
		q = q.OrderExpr("occurred_at DESC, id DESC").Limit(int64(limit))
		if union == nil {
			union = q
		} else {
			union = union.UnionAll(q)
		}
	}
	if union == nil {
		return nil, nil
	}
	var rows []eventRow
	if err := s.db.NewRaw("SELECT * FROM (?) AS e ORDER BY occurred_at DESC, id DESC LIMIT ?", union, limit).Scan(ctx, &rows); err != nil {
		return nil, err
	}
	out := make([]*domain.TicketEvent, len(rows))
	for i := range rows {
		out[i] = rows[i].toDomain()
	}
	return out, nil
}
