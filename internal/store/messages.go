package store

import (
	"context"
	"database/sql"
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

// AddMessage adds a normalized message and moves the ticket's last_message_at. With an
// external_message_id the ticket already has, it returns the first message and adds
// nothing; concurrent copies wait on the ticket's row lock and the unique constraint, so
// exactly one row is ever written.
func (s *Conn) AddMessage(ctx context.Context, tenantID, ticketID string, in domain.MessageCreate) (*domain.Message, bool, error) {
	var (
		msg     domain.Message
		created bool
	)
	err := s.InTx(ctx, func(tx *Conn) error {
		t, err := getTicketRow(ctx, tx.db, tenantID, ticketID, true)
		if err != nil {
			return err
		}
		if in.Channel == "" {
			in.Channel = t.Channel
		}
		at := now()
		row := newMessageRow(tenantID, ticketID, in, at)
		res, err := tx.db.NewInsert().Model(row).On("CONFLICT (ticket_id, external_message_id) DO NOTHING").Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			first := new(messageRow)
			err := tx.db.NewSelect().Model(first).
				Where("ticket_id = ? AND external_message_id = ?", ticketID, in.ExternalMessageID).
				Scan(ctx)
			msg = first.toDomain()
			return err
		}
		created = true
		msg = row.toDomain()
		after := new(ticketRow)
		err = tx.db.NewUpdate().Model(after).
			Set("message_count = message_count + 1").
			Set("last_message_at = greatest(last_message_at, ?)", at).
			Set("updated_at = ?", at).
			Where("id = ?", ticketID).
			Returning("*").
			Scan(ctx)
		if err != nil {
			return err
		}
		before := t.toDomain()
		return tx.writeEvent(ctx, domain.EventMessageCreated, &before, after.toDomain(), &msg, at)
	})
	if err != nil {
		return nil, false, err
	}
	return &msg, created, nil
}

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
