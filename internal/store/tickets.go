package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

type ticketRow struct {
	bun.BaseModel `bun:"table:tickets"`

	ID            string         `bun:"id,pk"`
	TenantID      string         `bun:"tenant_id"`
	Subject       string         `bun:"subject"`
	Status        string         `bun:"status"`
	Priority      string         `bun:"priority"`
	Channel       string         `bun:"channel"`
	Tags          []string       `bun:"tags,array"`
	ContactName   sql.NullString `bun:"contact_name"`
	ContactEmail  sql.NullString `bun:"contact_email"`
	ContactPhone  sql.NullString `bun:"contact_phone"`
	MessageCount  int            `bun:"message_count"`
	CreatedAt     time.Time      `bun:"created_at"`
	UpdatedAt     time.Time      `bun:"updated_at"`
	LastMessageAt time.Time      `bun:"last_message_at"`
}

func (r *ticketRow) toDomain() domain.Ticket {
	t := domain.Ticket{
		ID:            r.ID,
		TenantID:      r.TenantID,
		Subject:       r.Subject,
		Status:        r.Status,
		Priority:      r.Priority,
		Channel:       r.Channel,
		Tags:          r.Tags,
		MessageCount:  r.MessageCount,
		CreatedAt:     r.CreatedAt.UTC(),
		UpdatedAt:     r.UpdatedAt.UTC(),
		LastMessageAt: r.LastMessageAt.UTC(),
	}
	if t.Tags == nil {
		t.Tags = []string{}
	}
	c := domain.Contact{Name: r.ContactName.String, Email: r.ContactEmail.String, Phone: r.ContactPhone.String}
	if !c.Empty() {
		t.Contact = &c
	}
	return t
}

func (r *ticketRow) setContact(c *domain.Contact) {
	if c == nil {
		c = &domain.Contact{}
	}
	r.ContactName = nullString(c.Name)
	r.ContactEmail = nullString(c.Email)
	r.ContactPhone = nullString(c.Phone)
}

// with returns the row holding t's changeable fields (subject, status, priority, tags,
// contact, message count and times); the caller's column list says which are written.
func (r ticketRow) with(t domain.Ticket) ticketRow {
	r.Subject, r.Status, r.Priority, r.Tags = t.Subject, t.Status, t.Priority, t.Tags
	r.MessageCount, r.UpdatedAt, r.LastMessageAt = t.MessageCount, t.UpdatedAt, t.LastMessageAt
	r.setContact(t.Contact)
	return r
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// CreateTicket stores a normalized ticket and its initial message in one transaction.
func (s *Conn) CreateTicket(ctx context.Context, tenantID string, in domain.TicketCreate) (*domain.TicketDetail, error) {
	at := now()
	row := &ticketRow{
		ID:            domain.NewID(domain.PrefixTicket),
		TenantID:      tenantID,
		Subject:       in.Subject,
		Status:        in.Status,
		Priority:      in.Priority,
		Channel:       in.Channel,
		Tags:          in.Tags,
		CreatedAt:     at,
		UpdatedAt:     at,
		LastMessageAt: at,
	}
	if row.Tags == nil {
		row.Tags = []string{}
	}
	row.setContact(in.Contact)
	var msg *messageRow
	if in.InitialMessage != nil {
		msg = newMessageRow(tenantID, row.ID, *in.InitialMessage, at)
		row.MessageCount = 1
	}
	d := &domain.TicketDetail{Ticket: row.toDomain(), Messages: []domain.Message{}}
	var first *domain.Message
	if msg != nil {
		d.Messages = append(d.Messages, msg.toDomain())
		first = &d.Messages[0]
	}
	// One statement, so one round trip and atomic on its own: the ticket, its first
	// message and its event (the outbox) are written together or not at all. Prepared
	// (see prepared.go): as text, parsing and planning it was 40 % of its cost.
	ev := newEventRow(ctx, domain.EventTicketCreated, nil, d.Ticket, first, at)
	payload, err := json.Marshal(ev.Payload)
	if err != nil {
		return nil, err
	}
	var msgID, role, content, channel, extID any // NULL: no first message, no insert
	if msg != nil {
		msgID, role, content, channel, extID = msg.ID, msg.Role, msg.Content, msg.Channel, nullable(msg.ExternalMessageID)
	}
	if _, err := s.execPrepared(ctx, createTicketSQL,
		row.ID, tenantID, row.Subject, row.Status, row.Priority, row.Channel, textArray(row.Tags),
		nullable(row.ContactName), nullable(row.ContactEmail), nullable(row.ContactPhone), int64(row.MessageCount), at,
		msgID, role, content, channel, extID,
		ev.ID, ev.Actor, int64(ev.Depth), textArray(ev.Chain), nullable(ev.CausedBy), string(payload),
	); err != nil {
		return nil, err
	}
	s.AfterCommit(ctx, func(context.Context) { s.root.notifyEvents() })
	return d, nil
}

// createTicketSQL writes a ticket, its first message when $13 (the message's id) is not
// NULL, and its ticket.created event.
var createTicketSQL = newPrepared(`WITH t AS (
	INSERT INTO tickets (id, tenant_id, subject, status, priority, channel, tags, contact_name, contact_email, contact_phone, message_count, created_at, updated_at, last_message_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7::text[], $8, $9, $10, $11, $12, $12, $12)
), m AS (
	INSERT INTO messages (id, tenant_id, ticket_id, role, content, channel, external_message_id, created_at)
	SELECT $13, $2, $1, $14, $15, $16, $17, $12 WHERE $13::text IS NOT NULL
)
INSERT INTO ticket_events (id, tenant_id, ticket_id, type, actor, depth, chain, caused_by, payload, occurred_at)
VALUES ($18, $2, $1, 'ticket.created', $19, $20, $21::text[], $22, $23::jsonb, $12)`)

// GetTicket returns a ticket with up to limit of its latest messages, oldest first.
func (s *Conn) GetTicket(ctx context.Context, tenantID, ticketID string, limit int) (*domain.TicketDetail, error) {
	row, err := getTicketRow(ctx, s.db, tenantID, ticketID)
	if err != nil {
		return nil, err
	}
	msgs, err := s.LatestMessages(ctx, tenantID, ticketID, limit)
	if err != nil {
		return nil, err
	}
	return &domain.TicketDetail{Ticket: row.toDomain(), Messages: msgs}, nil
}

// LatestMessages returns up to limit of a ticket's latest messages, oldest first (none for
// a ticket the tenant does not have).
func (s *Conn) LatestMessages(ctx context.Context, tenantID, ticketID string, limit int) ([]domain.Message, error) {
	var rows []messageRow
	err := s.db.NewSelect().Model(&rows).
		Where("ticket_id = ? AND tenant_id = ?", ticketID, tenantID).
		OrderExpr("created_at DESC, id DESC").
		Limit(int64(limit)).
		Scan(ctx)
	if err != nil {
		return nil, err
	}
	slices.Reverse(rows)
	msgs := make([]domain.Message, len(rows))
	for i := range rows {
		msgs[i] = rows[i].toDomain()
	}
	return msgs, nil
}

// CheckTicket returns ENOTFOUND unless the tenant has the ticket.
func (s *Conn) CheckTicket(ctx context.Context, tenantID, ticketID string) error {
	exists, err := s.db.NewSelect().Table("tickets").Where("id = ? AND tenant_id = ?", ticketID, tenantID).Exists(ctx)
	if err != nil {
		return err
	}
	if !exists {
		return domain.Errorf(domain.ENOTFOUND, "No ticket %s exists.", ticketID)
	}
	return nil
}

func getTicketRow(ctx context.Context, db bun.IDB, tenantID, ticketID string) (*ticketRow, error) {
	row := new(ticketRow)
	if err := db.NewSelect().Model(row).Where("id = ? AND tenant_id = ?", ticketID, tenantID).Scan(ctx); err != nil {
		return nil, wrapErr(err, "No ticket "+ticketID+" exists.")
	}
	return row, nil
}

// UpdateTicket applies a normalized partial update and records a ticket.updated event with
// it, in one statement (see changeTicket). An update that changes nothing writes nothing.
func (s *Conn) UpdateTicket(ctx context.Context, tenantID, ticketID string, u domain.TicketUpdate) (*domain.Ticket, error) {
	var out domain.Ticket
	err := s.changeTicket(ctx, tenantID, ticketID, "", func(db *Conn, row *ticketVersion) (bool, error) {
		before := row.toDomain()
		out = u.Apply(before)
		if ticketEqual(before, out) {
			return true, nil
		}
		out.UpdatedAt = now()
		next := row.ticketRow.with(out)
		update := db.db.NewUpdate().Model(&next).
			Column("subject", "status", "priority", "tags", "contact_name", "contact_email", "contact_phone", "updated_at").
			WherePK().Where("?TableAlias.xmin = ?::xid", row.XMin).Returning("?TableAlias.id")
		return db.execIf(ctx, "w AS (?)", []any{update}, domain.EventTicketUpdated, &before, out, nil, out.UpdatedAt)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// optimisticTries is how often a ticket change is tried without a lock before it takes the
// ticket's row lock.
const optimisticTries = 3

// ticketVersion is a ticket read for a change: the row, its version (PostgreSQL's xmin,
// which every update of the row replaces) and, when asked, the id of the ticket's message
// with a given external_message_id.
type ticketVersion struct {
	ticketRow    `bun:",extend"`
	XMin         string         `bun:"xmin,scanonly"`
	DupMessageID sql.NullString `bun:"dup_message_id,scanonly"`
}

// changeTicket reads a ticket and calls write with it. write sends its change as one
// statement that applies only if the row still has the version read (see execIf), and
// reports whether it did: so a change costs two round trips (read, write) and no
// transaction of its own. When another writer got in between, it reads again; after
// optimisticTries it reads the row locked in a transaction, where the write cannot miss.
// externalMessageID, when set, is looked up among the ticket's messages in the same read.
func (s *Conn) changeTicket(ctx context.Context, tenantID, ticketID, externalMessageID string, write func(db *Conn, row *ticketVersion) (bool, error)) error {
	for try := 1; try <= optimisticTries; try++ {
		row, err := readTicketVersion(ctx, s.db, tenantID, ticketID, externalMessageID, false)
		if err != nil {
			return err
		}
		if done, err := write(s, row); err != nil || done {
			return err
		}
	}
	return s.InTx(ctx, func(tx *Conn) error {
		row, err := readTicketVersion(ctx, tx.db, tenantID, ticketID, externalMessageID, true)
		if err != nil {
			return err
		}
		done, err := write(tx, row)
		if err == nil && !done {
			err = fmt.Errorf("store: ticket %s changed while locked", ticketID)
		}
		return err
	})
}

func readTicketVersion(ctx context.Context, db bun.IDB, tenantID, ticketID, externalMessageID string, lock bool) (*ticketVersion, error) {
	row := new(ticketVersion)
	q := db.NewSelect().Model(row).ColumnExpr("?TableAlias.*").ColumnExpr("?TableAlias.xmin::text AS xmin").
		Where("?TableAlias.id = ? AND ?TableAlias.tenant_id = ?", ticketID, tenantID)
	dup := "(SELECT m.id FROM messages m WHERE m.ticket_id = ? AND m.external_message_id = ?)"
	if externalMessageID != "" && !lock {
		q = q.ColumnExpr(dup+" AS dup_message_id", ticketID, externalMessageID)
	}
	if lock {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, wrapErr(err, "No ticket "+ticketID+" exists.")
	}
	// A statement that waited for the lock sees only what committed before it began, so a
	// message the lock's last holder wrote is looked up after the wait, in a statement of
	// its own.
	if externalMessageID != "" && lock {
		if err := db.NewRaw("SELECT "+dup, ticketID, externalMessageID).Scan(ctx, &row.DupMessageID); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
	}
	return row, nil
}

func ticketEqual(a, b domain.Ticket) bool {
	contact := func(c *domain.Contact) domain.Contact {
		if c == nil {
			return domain.Contact{}
		}
		return *c
	}
	return a.Subject == b.Subject && a.Status == b.Status && a.Priority == b.Priority &&
		slices.Equal(a.Tags, b.Tags) && contact(a.Contact) == contact(b.Contact)
}

// ListTickets returns up to limit tickets after the cursor in the order
// (last_message_at desc, id desc), and whether more follow. It is a keyset query on the
// tickets_activity index, so any page costs about what the first does.
func (s *Conn) ListTickets(ctx context.Context, tenantID string, f domain.TicketFilter, after *domain.TicketCursor, limit int) ([]domain.Ticket, bool, error) {
	var rows []ticketRow
	q := s.db.NewSelect().Model(&rows).Where("tenant_id = ?", tenantID)
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Priority != "" {
		q = q.Where("priority = ?", f.Priority)
	}
	if f.Channel != "" {
		q = q.Where("channel = ?", f.Channel)
	}
	if f.Tag != "" {
		// The tenant's own tag index (the filters_by_tenant migration): "tenant_id:tag".
		q = q.Where("ticket_tag_keys(tenant_id, tags) @> ARRAY[?]::text[]", tenantID+":"+f.Tag)
	}
	if after != nil {
		q = q.Where("(last_message_at, id) < (?, ?)", after.LastMessageAt, after.ID)
	}
	if err := q.OrderExpr("last_message_at DESC, id DESC").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, false, err
	}
	out, more := pageOf(rows, limit, (*ticketRow).toDomain)
	return out, more, nil
}
