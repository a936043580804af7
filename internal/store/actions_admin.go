package store

import (
	"context"

	"github.com/threada/threada/internal/domain"
)

// ActionFilter narrows a tenant's action listing; empty fields match everything.
type ActionFilter struct {
	Status       string
	TicketID     string
	AutomationID string
	Host         string // the host of the call's URL, lower case
}

// ListTenantActions returns a tenant's actions that f matches, newest first, after the
// cursor. Each filter has an index that keeps a page an index range scan.
func (s *Conn) ListTenantActions(ctx context.Context, tenantID string, f ActionFilter, after *domain.ActionCursor, limit int) ([]domain.Action, bool, error) {
	var rows []actionRow
	q := s.db.NewSelect().Model(&rows).Where("tenant_id = ?", tenantID)
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.TicketID != "" {
		q = q.Where("ticket_id = ?", f.TicketID)
	}
	if f.AutomationID != "" {
		q = q.Where("requested_by = ?", "automation:"+f.AutomationID)
	}
	if f.Host != "" {
		q = q.Where("host = ?", f.Host)
	}
	if after != nil {
		q = q.Where("(created_at, id) < (?, ?)", after.CreatedAt, after.ID)
	}
	if err := q.OrderExpr("created_at DESC, id DESC").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, false, err
	}
	out, more := pageOf(rows, limit, func(r *actionRow) domain.Action { return *r.toDomain() })
	return out, more, nil
}
