package automations

import (
	"context"

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

// updateClocks keeps the ticket's SLA clocks in step with ev, in its transaction: it loads
// them, plans their changes (domain.PlanClocks) under the first enabled policy, in position
// order, whose condition holds, saves the plan, and gives the timers it armed or disarmed
// to Temporal once the transaction commits.
func (e *Engine) updateClocks(ctx context.Context, tx *store.Conn, ev *domain.TicketEvent, policies []domain.SLAPolicy, env *rules.Env, machine *rules.Machine) error {
	if len(policies) == 0 {
		// No enabled policy, no clocks: disabling or deleting a policy removes its clocks
		// (a trigger), so a tenant without SLAs pays no query per event.
		return nil
	}
	clocks, err := tx.TicketClocks(ctx, ev.TicketID)
	if err != nil {
		return err
	}
	plan := domain.PlanClocks(ev, e.matchPolicy(policies, env, machine), clocks)
	timers, err := tx.SaveClocks(ctx, ev.TenantID, ev.TicketID, plan)
	if err != nil {
		return err
	}
	for _, t := range timers {
		tx.AfterCommit(ctx, func(ctx context.Context) { e.handOver(ctx, t) })
	}
	return nil
}

// handOver gives a clock's timer, armed or disarmed by a committed transaction, to
// Temporal: nil Arm and Disarm leave that to the relay and to the workflow.
func (e *Engine) handOver(ctx context.Context, t store.TimerChange) {
	switch {
	case t.Armed != nil && e.Arm != nil:
		e.Arm(ctx, t.Armed)
	case t.Armed == nil && e.Disarm != nil:
		e.Disarm(ctx, t.ID, t.Generation)
	}
}

// matchPolicy returns the first of the policies whose condition holds in env, nil if none
// does.
func (e *Engine) matchPolicy(policies []domain.SLAPolicy, env *rules.Env, machine *rules.Machine) *domain.SLAPolicy {
	for i := range policies {
		p := &policies[i]
		compiled, err := e.cache.Get(p.Rule())
		if err != nil {
			continue // it compiled when saved; a rule budget change could refuse it now
		}
		if eval := compiled.Evaluate(machine, env, rules.MatchOnly); eval.Err == nil && eval.Matched {
			return p
		}
	}
	return nil
}
