package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

type auditRow struct {
	bun.BaseModel `bun:"table:audit_events"`

	ID         string          `bun:"id,pk"`
	TenantID   string          `bun:"tenant_id"`
	Actor      string          `bun:"actor"`
	Action     string          `bun:"action"`
	Target     string          `bun:"target"`
	RequestID  string          `bun:"request_id"`
	ClientIP   string          `bun:"client_ip"`
	Before     json.RawMessage `bun:"before,type:jsonb,nullzero"`
	After      json.RawMessage `bun:"after,type:jsonb,nullzero"`
	OccurredAt time.Time       `bun:"occurred_at"`
}

// RecordAudit writes an audit event; run it on the transaction of the change it records,
// so that both commit or roll back together. Before and After are stored as JSON.
func (s *Conn) RecordAudit(ctx context.Context, ev domain.AuditEvent) error {
	row := &auditRow{ID: domain.NewID(domain.PrefixAudit), TenantID: ev.TenantID, Actor: ev.Actor, Action: ev.Action,
		Target: ev.Target, RequestID: ev.RequestID, ClientIP: ev.ClientIP, OccurredAt: now()}
	var err error
	if row.Before, err = marshalOrNil(ev.Before); err != nil {
		return err
	}
	if row.After, err = marshalOrNil(ev.After); err != nil {
		return err
	}
	_, err = s.db.NewInsert().Model(row).Exec(ctx)
	return err
}

func marshalOrNil(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}

// AuditFilter narrows the audit listing; empty fields do not filter.
type AuditFilter struct {
	Actor, Action, Target string
	Since, Until          time.Time
}

// AuditCursor is a position in the audit listing (occurred_at desc, id desc).
type AuditCursor struct {
	OccurredAt time.Time
	ID         string
}

// ListAudit returns the tenant's audit events, newest first.
func (s *Conn) ListAudit(ctx context.Context, tenantID string, f AuditFilter, after *AuditCursor, limit int) ([]domain.AuditEvent, bool, error) {
	var rows []auditRow
	q := s.db.NewSelect().Model(&rows).Where("tenant_id = ?", tenantID)
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.Target != "" {
		q = q.Where("target = ?", f.Target)
	}
	if !f.Since.IsZero() {
		q = q.Where("occurred_at >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		q = q.Where("occurred_at < ?", f.Until)
	}
	if after != nil {
		q = q.Where("(occurred_at, id) < (?, ?)", after.OccurredAt, after.ID)
	}
	if err := q.OrderExpr("occurred_at DESC, id DESC").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, false, err
	}
	out, more := pageOf(rows, limit, func(r *auditRow) domain.AuditEvent {
		ev := domain.AuditEvent{ID: r.ID, TenantID: r.TenantID, Actor: r.Actor, Action: r.Action, Target: r.Target,
			RequestID: r.RequestID, ClientIP: r.ClientIP, OccurredAt: r.OccurredAt.UTC()}
		if r.Before != nil {
			ev.Before = r.Before
		}
		if r.After != nil {
			ev.After = r.After
		}
		return ev
	})
	return out, more, nil
}
