package main

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// listTenantActions handles GET /api/v1/admin/actions: the tenant's actions, newest first,
// filtered by status, ticket, automation (the actions it started) and destination host.
// Statuses are those recorded in PostgreSQL, as in a ticket's listing.
func (s *server) listTenantActions(c *fiber.Ctx) error {
	f := store.ActionFilter{Status: c.Query("status"), TicketID: c.Query("ticket_id"),
		AutomationID: c.Query("automation_id"), Host: strings.ToLower(strings.TrimSuffix(c.Query("host"), "."))}
	tenantID := keyOf(c).TenantID
	l, err := parseListing(c, "tenant_actions", scopeOf(tenantID, f.Status, f.TicketID, f.AutomationID, f.Host),
		"status", "ticket_id", "automation_id", "host")
	if err != nil {
		return err
	}
	switch {
	case f.Status != "" && domain.CheckEnum("status", f.Status, domain.ActionStatuses) != nil:
		return domain.CheckEnum("status", f.Status, domain.ActionStatuses)
	case f.TicketID != "" && !domain.ValidID(domain.PrefixTicket, f.TicketID):
		return domain.Invalidf("ticket_id", "`ticket_id` is not a ticket id (tkt_...).")
	case f.AutomationID != "" && !domain.ValidID(domain.PrefixAutomation, f.AutomationID):
		return domain.Invalidf("automation_id", "`automation_id` is not an automation id (aut_...).")
	case c.Query("host") != "" && !domain.HostFilterOK(f.Host):
		return domain.Invalidf("host", "`host` must be a host name such as hooks.example.com.")
	}
	var after *domain.ActionCursor
	if l.after != nil {
		after = &domain.ActionCursor{CreatedAt: l.after.time(), ID: l.after.ID}
	}
	acts, more, err := s.store.ListTenantActions(c.UserContext(), tenantID, f, after, l.limit)
	if err != nil {
		return err
	}
	return c.JSON(pageFor(l, acts, more, s.actionViewOf, func(a *domain.Action) (time.Time, string) { return a.CreatedAt, a.ID }))
}
