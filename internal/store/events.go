package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

// EventsChannel is the LISTEN/NOTIFY channel told of every new ticket event.
const EventsChannel = "ticket_events"

// maxEventAttempts is how often the consumer retries an event that fails to process
// before it sets it aside with its error.
const maxEventAttempts = 10

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

// ProcessNextEvent claims the oldest unprocessed event no other consumer holds and runs fn
// on it in one transaction, which also marks the event processed: fn's effects and the
// mark commit together, or neither does. It reports whether there was an event. When fn
// fails, the event stays queued with its error, and is set aside after maxEventAttempts.
func (s *Store) ProcessNextEvent(ctx context.Context, fn func(ctx context.Context, ev *domain.TicketEvent) error) (bool, error) {
	var (
		found  bool
		failed *eventRow
		fnErr  error
	)
	err := s.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		row := new(eventRow)
		err := tx.NewSelect().Model(row).
			Where("processed_at IS NULL").
			OrderExpr("occurred_at, id").Limit(1).
			For("UPDATE SKIP LOCKED").Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		// A savepoint, so a failing fn undoes its own effects but not the claim's bookkeeping.
		err = inSavepoint(ctx, tx, func() error { return fn(ctx, row.toDomain()) })
		if err != nil {
			failed, fnErr = row, err
			return s.noteEventFailure(ctx, tx, row, err)
		}
		_, err = tx.NewUpdate().Table("ticket_events").Set("processed_at = ?", now()).Where("id = ?", row.ID).Exec(ctx)
		return err
	})
	if err != nil {
		return found, err
	}
	if failed != nil {
		return true, fnErr
	}
	return found, nil
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
	q := tx.NewUpdate().Table("ticket_events").
		Set("attempts = attempts + 1").
		Set("last_error = ?", cause.Error()).
		Where("id = ?", row.ID)
	if row.Attempts+1 >= maxEventAttempts {
		q = q.Set("processed_at = ?", now())
	}
	_, err := q.Exec(ctx)
	return err
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
