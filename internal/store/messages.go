package store

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

type messageRow struct {
	bun.BaseModel `bun:"table:messages"`

	ID                string         `bun:"id,pk"`
	TenantID          string         `bun:"tenant_id"`
	TicketID          string         `bun:"ticket_id"`
	Role              string         `bun:"role"`
	Content           string         `bun:"content"`
	Channel           string         `bun:"channel"`
	ExternalMessageID sql.NullString `bun:"external_message_id"`
	CreatedAt         time.Time      `bun:"created_at"`
}

func newMessageRow(tenantID, ticketID string, in domain.MessageCreate, at time.Time) *messageRow {
	return &messageRow{
		ID:                domain.NewID(domain.PrefixMessage),
		TenantID:          tenantID,
		TicketID:          ticketID,
		Role:              in.Role,
		Content:           in.Content,
		Channel:           in.Channel,
		ExternalMessageID: nullString(in.ExternalMessageID),
		CreatedAt:         at,
	}
}

func (r *messageRow) toDomain() domain.Message {
	return domain.Message{
		ID:                r.ID,
		TenantID:          r.TenantID,
		TicketID:          r.TicketID,
		Role:              r.Role,
		Content:           r.Content,
		Channel:           r.Channel,
		ExternalMessageID: r.ExternalMessageID.String,
		CreatedAt:         r.CreatedAt.UTC(),
	}
}

// AddMessage adds a normalized message, moves the ticket's last_message_at and records a
// message.created event, in one statement (see changeTicket). With an external_message_id
// the ticket already has, it returns the first message and adds nothing: concurrent copies
// are ordered by the ticket's version, so exactly one row is ever written.
func (s *Conn) AddMessage(ctx context.Context, tenantID, ticketID string, in domain.MessageCreate) (*domain.Message, bool, error) {
	var (
		msg     domain.Message
		created bool
	)
	err := s.changeTicket(ctx, tenantID, ticketID, in.ExternalMessageID, func(db *Conn, t *ticketVersion) (bool, error) {
		if t.DupMessageID.Valid {
			first := new(messageRow)
			err := db.db.NewSelect().Model(first).Where("id = ?", t.DupMessageID.String).Scan(ctx)
			msg, created = first.toDomain(), false
			return true, err
		}
		m := in
		if m.Channel == "" {
			m.Channel = t.Channel
		}
		at := now()
		row := newMessageRow(tenantID, ticketID, m, at)
		msg, created = row.toDomain(), true
		before := t.toDomain()
		after := before
		after.MessageCount++
		after.UpdatedAt = at
		if at.After(after.LastMessageAt) {
			after.LastMessageAt = at
		}
		// The ticket moves only if it is as read; the message goes in only if it moved.
		with := `t AS (
				UPDATE tickets SET message_count = message_count + 1, last_message_at = ?, updated_at = ?
				WHERE id = ? AND xmin = ?::xid RETURNING id),
			w AS (INSERT INTO messages (?) SELECT v.* FROM t, (?) v RETURNING id)`
		args := []any{after.LastMessageAt, at, ticketID, t.XMin,
			bun.Safe(strings.Join(messageColumns, ", ")), db.db.NewValues(row).Column(messageColumns...)}
		return db.execIf(ctx, with, args, domain.EventMessageCreated, &before, after, &msg, at)
	})
	if err != nil {
		return nil, false, err
	}
	return &msg, created, nil
}

// messageColumns are the columns a new message sets.
var messageColumns = []string{"id", "tenant_id", "ticket_id", "role", "content", "channel", "external_message_id", "created_at"}

// ListMessages returns up to limit messages of a ticket after the cursor, oldest first,
// and whether more follow.
func (s *Conn) ListMessages(ctx context.Context, tenantID, ticketID string, after *domain.MessageCursor, limit int) ([]domain.Message, bool, error) {
	db := s.db
	if err := s.CheckTicket(ctx, tenantID, ticketID); err != nil {
		return nil, false, err
	}
	var rows []messageRow
	q := db.NewSelect().Model(&rows).Where("ticket_id = ? AND tenant_id = ?", ticketID, tenantID)
	if after != nil {
		q = q.Where("(created_at, id) > (?, ?)", after.CreatedAt, after.ID)
	}
	if err := q.OrderExpr("created_at ASC, id ASC").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, false, err
	}
	out, more := pageOf(rows, limit, (*messageRow).toDomain)
	return out, more, nil
}
