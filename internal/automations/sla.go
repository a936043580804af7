package automations

import (
	"context"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/rules"
	"github.com/threada/threada/internal/store"
)

// policiesFunc returns a tenant's enabled SLA policies.
type policiesFunc func(ctx context.Context, tenantID string) ([]domain.SLAPolicy, error)

// slaEvent says whether an event can move a ticket's SLA clocks: a ticket change, not a
// timer's own event.
func slaEvent(typ string) bool {
	return typ == domain.EventTicketCreated || typ == domain.EventTicketUpdated || typ == domain.EventMessageCreated
}

// updateSLA keeps the ticket's SLA clocks in step with ev, in its transaction: the first
// enabled policy (in position order) whose condition holds sets each metric's target for
// the ticket's priority; first_reply stops at the first agent message, resolution runs
// while the ticket is open, pauses while pending or on hold, and stops when solved or
// closed. Times are business time in the policy's calendar. Each running clock that has
// not breached keeps one timer armed for its next mark (warning, then breach).
func (e *Engine) updateSLA(ctx context.Context, tx *store.Conn, ev *domain.TicketEvent, policies []domain.SLAPolicy, env *rules.Env, machine *vm.VM) error {
	if len(policies) == 0 {
		// No enabled policy, no clocks: disabling or deleting a policy removes its clocks
		// (a trigger), so a tenant without SLAs pays no query per event.
		return nil
	}
	clocks, err := tx.TicketClocks(ctx, ev.TicketID)
	if err != nil {
		return err
	}
	var policy *domain.SLAPolicy
	for i := range policies {
		p := &policies[i]
		compiled, err := e.cache.Get(&domain.Automation{ID: p.ID, Version: p.Version, Condition: p.Condition})
		if err != nil {
			continue // it compiled when saved; a rule budget change could refuse it now
		}
		if ok, err := compiled.MatchOn(machine, env); err == nil && ok {
			policy = p
			break
		}
	}
	at := ev.OccurredAt
	for _, metric := range domain.SLAMetrics {
		c := clocks[metric]
		var target time.Duration
		if policy != nil {
			target = policy.Targets[ev.Ticket.Priority].Of(metric)
		}
		if target == 0 {
			if c != nil {
				if err := tx.DeleteClock(ctx, ev.TicketID, metric); err != nil {
					return err
				}
				if err := e.disarmSLA(ctx, tx, ev.TicketID, metric); err != nil {
					return err
				}
			}
			continue
		}
		if c == nil {
			start := ev.Ticket.CreatedAt
			c = &domain.SLAClock{Metric: metric, RunningSince: &start}
		}
		c.PolicyID, c.Target = policy.ID, target
		cal := policy.Calendar
		running := clockRuns(c, ev)
		if c.RunningSince != nil && !running {
			c.Elapsed += cal.Between(*c.RunningSince, at)
			c.RunningSince = nil
		}
		if c.RunningSince == nil && running {
			c.RunningSince = &at
		}
		c.SetMarks(cal, policy.WarningPercent)
		if err := tx.SaveClock(ctx, ev.TenantID, ev.TicketID, c); err != nil {
			return err
		}
		if c.RunningSince == nil || c.Breached || c.DueAt == nil {
			if err := e.disarmSLA(ctx, tx, ev.TicketID, metric); err != nil {
				return err
			}
			continue
		}
		typ, due := domain.EventSLABreached, *c.DueAt
		if !c.Warned && c.WarningAt != nil && c.WarningAt.After(at) {
			typ, due = domain.EventSLAWarning, *c.WarningAt
		}
		t, err := tx.ArmSLA(ctx, ev.TenantID, ev.TicketID, c, typ, due)
		if err != nil {
			return err
		}
		if t != nil && e.Arm != nil {
			tx.AfterCommit(ctx, func(ctx context.Context) { e.Arm(ctx, t) })
		}
	}
	return nil
}

// clockRuns says whether a clock runs after ev, and records an achievement it brings.
func clockRuns(c *domain.SLAClock, ev *domain.TicketEvent) bool {
	switch c.Metric {
	case domain.SLAFirstReply:
		if c.AchievedAt == nil && ev.Type == domain.EventMessageCreated && ev.Message != nil && ev.Message.Role == domain.RoleAgent {
			at := ev.Message.CreatedAt
			c.AchievedAt = &at
		}
		return c.AchievedAt == nil
	default:
		switch ev.Ticket.Status {
		case domain.StatusSolved, domain.StatusClosed:
			if c.AchievedAt == nil {
				at := ev.OccurredAt
				c.AchievedAt = &at
			}
			return false
		case domain.StatusPending, domain.StatusOnHold:
			return false
		}
		c.AchievedAt = nil // reopened
		return true
	}
}

// disarmSLA drops a clock's timer and, after commit, tells its workflow.
func (e *Engine) disarmSLA(ctx context.Context, tx *store.Conn, ticketID, metric string) error {
	gen, err := tx.DisarmSLA(ctx, ticketID, metric)
	if err != nil || gen == 0 {
		return err
	}
	if e.Disarm != nil {
		id := store.SLATimerID(ticketID, metric)
		tx.AfterCommit(ctx, func(ctx context.Context) { e.Disarm(ctx, id, gen) })
	}
	return nil
}
