package store

import (
	"context"
	"database/sql"
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
