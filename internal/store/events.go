package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

// EventsChannel is the LISTEN/NOTIFY channel told of every new ticket event.
const EventsChannel = "ticket_events"

type eventPayload struct {
	Ticket   domain.Ticket                 `json:"ticket"`
	Previous *domain.Ticket                `json:"previous,omitempty"`
	Changes  map[string]domain.FieldChange `json:"changes"`
	Message  *domain.Message               `json:"message,omitempty"`
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
	return &domain.TicketEvent{
		ID: r.ID, TenantID: r.TenantID, TicketID: r.TicketID, Type: r.Type,
		Origin:     domain.Origin{Actor: r.Actor, Depth: r.Depth, Chain: chain, CausedBy: r.CausedBy.String},
		OccurredAt: r.OccurredAt.UTC(), Ticket: r.Payload.Ticket, Previous: r.Payload.Previous,
		Changes: r.Payload.Changes, Message: r.Payload.Message,
	}
}

// writeEvent records a ticket change in the transaction that made it, stamped with the
// origin ctx carries, and notifies consumers when the transaction commits.
func (s *Store) writeEvent(ctx context.Context, tx bun.IDB, typ string, before *domain.Ticket, after domain.Ticket, msg *domain.Message, at time.Time) error {
	o := domain.OriginFrom(ctx)
	depth := max(o.Depth, 1) // a chain starts at 1 with the change an API client made
	chain := o.Chain
	if chain == nil {
		chain = []string{}
	}
	row := &eventRow{
		ID: domain.NewID(domain.PrefixEvent), TenantID: after.TenantID, TicketID: after.ID, Type: typ,
		Actor: o.Actor, Depth: depth, Chain: chain, CausedBy: nullString(o.CausedBy),
		Payload:    eventPayload{Ticket: after, Previous: before, Changes: domain.Diff(before, &after), Message: msg},
		OccurredAt: at,
	}
	if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
		return err
	}
	s.AfterCommit(ctx, func(context.Context) { s.notifyEvents() })
	return nil
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
	}
}

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

// claimEventSQL takes the next eligible event of the first tenant after ? (in tenant id
// order) that has one, and commits the attempt before the event is evaluated. Eligible:
// not processed, not leased to a live claim, and the oldest pending event of its ticket,
// so a ticket's events run one at a time and in order.
const claimEventSQL = `
UPDATE ticket_events SET attempts = attempts + 1, claimed_until = clock_timestamp() + ? * interval '1 millisecond'
WHERE id = (
	SELECT e.id FROM ticket_events e
	WHERE e.processed_at IS NULL
	  AND (e.claimed_until IS NULL OR e.claimed_until < clock_timestamp())
	  AND e.tenant_id > ?
	  AND NOT EXISTS (
		SELECT 1 FROM ticket_events p
		WHERE p.ticket_id = e.ticket_id AND p.processed_at IS NULL AND (p.occurred_at, p.id) < (e.occurred_at, e.id))
	ORDER BY e.tenant_id, e.occurred_at, e.id
	LIMIT 1
	FOR UPDATE SKIP LOCKED)
RETURNING id, tenant_id`

// ProcessNextEvent claims an event and runs fn on it. Tenants take turns: it takes the
// next event of the first tenant after afterTenant that has one (wrapping around), so one
// tenant's backlog delays another's events by at most one evaluation per worker. The claim
// (one more attempt) commits on its own first, so a worker that dies while evaluating
// still used an attempt; then fn runs in one transaction that also marks the event
// processed: fn's effects and the mark commit together, or neither does. When fn fails,
// the event waits eventRetryDelay with its error; after MaxEventAttempts attempts it is set
// aside, and the tenant's automations for it get a run saying so. It returns the event's
// tenant ("" when no event waits).
func (s *Store) ProcessNextEvent(ctx context.Context, afterTenant string, fn func(ctx context.Context, ev *domain.TicketEvent) error) (string, error) {
	var claimed struct {
		ID       string `bun:"id"`
		TenantID string `bun:"tenant_id"`
	}
	for _, after := range []string{afterTenant, ""} {
		err := s.db.NewRaw(claimEventSQL, eventLease.Milliseconds(), after).Scan(ctx, &claimed)
		if err == nil {
			break
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", err
		}
		if after == "" {
			return "", nil
		}
	}
	var fnErr error
	err := s.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		row := new(eventRow)
		err := tx.NewSelect().Model(row).Where("id = ? AND processed_at IS NULL", claimed.ID).For("UPDATE").Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // another worker finished it after our lease ran out
		}
		if err != nil {
			return err
		}
		if row.Attempts > MaxEventAttempts {
			return s.setEventAside(ctx, tx, row, "the worker stopped while handling it")
		}
		// A savepoint, so a failing fn undoes its own effects but not the bookkeeping.
		if fnErr = inSavepoint(ctx, tx, func() error { return fn(ctx, row.toDomain()) }); fnErr != nil {
			return s.noteEventFailure(ctx, tx, row, fnErr)
		}
		_, err = tx.NewUpdate().Table("ticket_events").Set("processed_at = ?", now()).Where("id = ?", row.ID).Exec(ctx)
		return err
	})
	if err != nil {
		return claimed.TenantID, err
	}
	return claimed.TenantID, fnErr
}

// inSavepoint runs fn so that its failure undoes its writes, and forgets the after-commit
// work it registered, while the enclosing transaction goes on.
func inSavepoint(ctx context.Context, tx bun.IDB, fn func() error) error {
	st, _ := ctx.Value(txKey{}).(*txState)
	hooks := 0
	if st != nil {
		hooks = len(st.after)
	}
	if _, err := tx.ExecContext(ctx, "SAVEPOINT process_event"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		if st != nil {
			st.after = st.after[:hooks]
		}
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT process_event"); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	_, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT process_event")
	return err
}

func (s *Store) noteEventFailure(ctx context.Context, tx bun.IDB, row *eventRow, cause error) error {
	if row.Attempts >= MaxEventAttempts {
		return s.setEventAside(ctx, tx, row, cause.Error())
	}
	_, err := tx.NewUpdate().Table("ticket_events").
		Set("last_error = ?", cause.Error()).
		Set("claimed_until = clock_timestamp() + ? * interval '1 millisecond'", eventRetryDelay.Milliseconds()).
		Where("id = ?", row.ID).Exec(ctx)
	return err
}

// setEventAside ends an event that kept failing: it is marked processed and dead with its
// error, and each of the tenant's automations that would have evaluated it gets a run
// saying so, so the run history shows it.
func (s *Store) setEventAside(ctx context.Context, tx bun.IDB, row *eventRow, cause string) error {
	reason := fmt.Sprintf("event set aside after %d attempts: %s", row.Attempts, cause)
	if _, err := tx.NewUpdate().Table("ticket_events").
		Set("processed_at = ?", now()).Set("dead = true").Set("last_error = ?", reason).
		Where("id = ?", row.ID).Exec(ctx); err != nil {
		return err
	}
	autos, err := s.EnabledAutomations(ctx, row.TenantID, row.Type)
	if err != nil {
		return err
	}
	runs := make([]domain.AutomationRun, len(autos))
	for i, a := range autos {
		runs[i] = domain.AutomationRun{TenantID: row.TenantID, AutomationID: a.ID, AutomationVersion: a.Version,
			EventID: row.ID, EventType: row.Type, TicketID: row.TicketID, Error: reason}
	}
	return s.RecordRuns(ctx, runs)
}

// PendingEvents counts events not yet processed.
func (s *Store) PendingEvents(ctx context.Context) (int64, error) {
	return s.conn(ctx).NewSelect().Table("ticket_events").Where("processed_at IS NULL").Count(ctx)
}

// DeleteProcessedEvents removes events processed before the cutoff; runs keep their ids.
func (s *Store) DeleteProcessedEvents(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.conn(ctx).NewDelete().Table("ticket_events").Where("processed_at < ?", before).Exec(ctx)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
