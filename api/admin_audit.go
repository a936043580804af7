package main

import (
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

type auditView struct {
	AuditEventID string          `json:"audit_event_id"`
	Actor        string          `json:"actor"`
	Action       string          `json:"action"`
	Target       string          `json:"target"`
	RequestID    string          `json:"request_id"`
	ClientIP     string          `json:"client_ip"`
	Before       json.RawMessage `json:"before"`
	After        json.RawMessage `json:"after"`
	OccurredAt   timestamp       `json:"occurred_at"`
}

func auditViewOf(ev *domain.AuditEvent) auditView {
	raw := func(v any) json.RawMessage {
		if b, ok := v.(json.RawMessage); ok {
			return b
		}
		return json.RawMessage("null")
	}
	return auditView{AuditEventID: ev.ID, Actor: ev.Actor, Action: ev.Action, Target: ev.Target, RequestID: ev.RequestID,
		ClientIP: ev.ClientIP, Before: raw(ev.Before), After: raw(ev.After), OccurredAt: timestamp(ev.OccurredAt)}
}

// listAudit handles GET /audit-events: newest first, filtered by actor, action, target and
// a time range (since inclusive, until exclusive, RFC 3339).
func (s *server) listAudit(c *fiber.Ctx) error {
	f := store.AuditFilter{Actor: c.Query("actor"), Action: c.Query("action"), Target: c.Query("target")}
	tenantID := keyOf(c).TenantID
	l, err := parseListing(c, "audit", scopeOf(tenantID, f.Actor, f.Action, f.Target, c.Query("since"), c.Query("until")),
		"actor", "action", "target", "since", "until")
	if err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := c.Query(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return domain.Invalidf(p.name, "`%s` must be an RFC 3339 time like 2026-11-22T10:00:00Z; got %q.", p.name, v)
			}
			if err := domain.CheckTime(p.name, t); err != nil {
				return err
			}
			*p.dst = t
		}
	}
	var after *store.AuditCursor
	if l.after != nil {
		after = &store.AuditCursor{OccurredAt: l.after.time(), ID: l.after.ID}
	}
	events, more, err := s.store.ListAudit(c.UserContext(), tenantID, f, after, l.limit)
	if err != nil {
		return err
	}
	return c.JSON(pageFor(l, events, more, auditViewOf, func(ev *domain.AuditEvent) (time.Time, string) { return ev.OccurredAt, ev.ID }))
}
