// Package automations runs tenants' rules on ticket events. The worker consumes the event
// outbox (written with each ticket change, in its transaction): for each event it
// evaluates the tenant's enabled automations in position order and applies the actions of
// those that match, in the transaction that marks the event processed. A matched
// custom_http becomes an action like the public API's, with an ID derived from (event,
// automation, action index), whose workflow starts once that transaction commits.
//
// Loop protection: an automation never fires on an event it caused; an automation fires at
// most once per chain (the events its own effects cause, and theirs); events at MaxDepth
// (a client's change is depth 1, the change an automation makes in reaction depth 2, ...)
// are not evaluated.
package automations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/rules"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/internal/telemetry"
)

// Consumer timings.
const (
	pollInterval   = time.Second // fallback when a notification is missed
	errorBackoff   = 500 * time.Millisecond
	cleanupEvery   = time.Hour
	eventRetention = 30 * 24 * time.Hour // backtests look back this far
)

// Engine evaluates events and applies matched automations.
type Engine struct {
	Store *store.Store
	// Start starts an action's workflow once its row is committed. Nil leaves actions for
	// the relay.
	Start func(ctx context.Context, a *domain.Action)
	// Arm gives a delay automation's timer, (re)armed by an event, to Temporal once the
	// event's transaction commits. Nil leaves timers for the relay.
	Arm func(ctx context.Context, t *store.Timer)
	// Disarm tells a timer's workflow that the timer was disarmed at generation gen, once
	// the transaction that did it commits. Nil leaves the workflow to find nothing to fire.
	Disarm   func(ctx context.Context, timerID string, gen int64)
	Log      *slog.Logger
	MaxDepth int // 0 means domain.DefaultMaxChainDepth
	// Metrics count evaluations by result and budget failures; nil counts nothing.
	Metrics *telemetry.Metrics
	// Linger: see linger; 0 means defaultLinger, a negative value none.
	Linger time.Duration
	// Consumers: see consumers; 0 means defaultConsumers.
	Consumers int

	cache rules.Cache
	armed armedCounts // tenants' armed delay timers, for domain.MaxArmedTimersByTenant
}

func (e *Engine) maxDepth() int {
	if e.MaxDepth > 0 {
		return e.MaxDepth
	}
	return domain.DefaultMaxChainDepth
}

// Handle evaluates one event against its tenant's automations, applies the matches through
// tx (the transaction that marks the event processed) and returns the runs to record. A
// rule's own failure (a runtime error in its condition, a URL no longer allowed) is
// recorded in its run; only storage errors fail the event, to be retried.
func (e *Engine) Handle(ctx context.Context, tx *store.Conn, ev *domain.TicketEvent) ([]domain.AutomationRun, error) {
	runs, err := e.handle(ctx, tx, ev, lookups{automations: tx.EnabledAutomations, policies: tx.EnabledSLAPolicies, tenant: tx.GetTenant})
	if err != nil {
		return nil, err
	}
	return runs, tx.FlushTicketWrites(ctx)
}

// lookups are what handle reads besides the event: in a batch, each once per tenant.
type lookups struct {
	automations automationsFunc
	policies    policiesFunc
	tenant      func(ctx context.Context, tenantID string) (*domain.Tenant, error)
}

// automationsFunc returns a tenant's enabled automations for an event type.
type automationsFunc func(ctx context.Context, tenantID, eventType string) ([]domain.Automation, error)

// batchHandler is Handle for one batch: the automations of each (tenant, event type), the
// tenant's SLA policies and its settings are read once per batch, not once per event, and
// the batch's ticket changes are written together when it ends (store.FlushTicketWrites,
// which store.ProcessClaimedEvents calls).
func (e *Engine) batchHandler() store.EventFunc {
	type key struct{ tenant, typ string }
	seen := map[key][]domain.Automation{}
	load := func(ctx context.Context, tx *store.Conn, tenantID, eventType string) ([]domain.Automation, error) {
		k := key{tenantID, eventType}
		if autos, ok := seen[k]; ok {
			return autos, nil
		}
		autos, err := tx.EnabledAutomations(ctx, tenantID, eventType)
		if err == nil {
			seen[k] = autos
		}
		return autos, err
	}
	policies := map[string][]domain.SLAPolicy{}
	tenants := map[string]*domain.Tenant{}
	return func(ctx context.Context, tx *store.Conn, ev *domain.TicketEvent) ([]domain.AutomationRun, error) {
		return e.handle(ctx, tx, ev, lookups{
			automations: func(ctx context.Context, tenantID, eventType string) ([]domain.Automation, error) {
				return load(ctx, tx, tenantID, eventType)
			},
			policies: func(ctx context.Context, tenantID string) ([]domain.SLAPolicy, error) {
				return once(policies, tenantID, func() ([]domain.SLAPolicy, error) { return tx.EnabledSLAPolicies(ctx, tenantID) })
			},
			tenant: func(ctx context.Context, tenantID string) (*domain.Tenant, error) {
				return once(tenants, tenantID, func() (*domain.Tenant, error) { return tx.GetTenant(ctx, tenantID) })
			},
		})
	}
}

// once returns seen[k], reading it with read the first time.
func once[V any](seen map[string]V, k string, read func() (V, error)) (V, error) {
	if v, ok := seen[k]; ok {
		return v, nil
	}
	v, err := read()
	if err == nil {
		seen[k] = v
	}
	return v, err
}

func (e *Engine) handle(ctx context.Context, tx *store.Conn, ev *domain.TicketEvent, look lookups) ([]domain.AutomationRun, error) {
	env := rules.NewEnv(ev)
	var machine rules.Machine
	if slaEvent(ev.Type) {
		policies, err := look.policies(ctx, ev.TenantID)
		if err != nil {
			return nil, err
		}
		if err := e.updateClocks(ctx, tx, ev, policies, env, &machine); err != nil {
			return nil, err
		}
		env = rules.NewEnv(ev) // a fresh budget for the automations
	}
	var autos []domain.Automation
	var err error
	if ev.Type == domain.EventDelayElapsed {
		autos, err = delayed(ctx, tx, ev)
	} else {
		autos, err = look.automations(ctx, ev.TenantID, ev.Type)
	}
	if err != nil || len(autos) == 0 {
		return nil, err
	}
	var tenant *domain.Tenant
	runs := make([]domain.AutomationRun, 0, len(autos))
	var overBudget, withinBudget []string
	arms := 0 // delay timers this event armed
	for i := range autos {
		a := &autos[i] // in a batch, shared with its later events: kept up to date below
		if !a.Enabled {
			continue // disabled earlier in this batch
		}
		run := domain.AutomationRun{TenantID: ev.TenantID, AutomationID: a.ID, AutomationVersion: a.Version,
			EventID: ev.ID, EventType: ev.Type, TicketID: ev.TicketID}
		if run.Skipped = e.skipReason(ev, a.ID); run.Skipped != "" {
			e.Metrics.AutomationEvaluated("skipped")
			runs = append(runs, run)
			continue
		}
		if a.Delay > 0 && ev.Type != domain.EventDelayElapsed {
			// A time-based rule: the event arms its timer, and the rule runs when it fires.
			// Only an arm refused by a bound is recorded as a run, with the reason.
			arms++
			if run.Error, err = e.arm(ctx, tx, a, ev, arms); err != nil {
				return nil, err
			}
			if run.Error != "" {
				runs = append(runs, run)
			}
			continue
		}
		compiled, err := e.cache.Get(a.Rule())
		var eval rules.Evaluation
		if err == nil {
			eval = compiled.Evaluate(&machine, env, rules.Explained)
			err = eval.Error()
		}
		run.Matched, run.Explanation = eval.Matched, eval.Explanation
		switch {
		case errors.Is(err, rules.ErrBudget):
			overBudget = append(overBudget, a.ID)
			if a.BudgetFailures++; a.BudgetFailures >= MaxBudgetFailures {
				a.Enabled = false
			}
		case !errors.Is(err, rules.ErrEventBudget) && !errors.Is(err, rules.ErrTooSlow) && a.BudgetFailures > 0:
			// (stopped by the others' use, or by a slow machine: no verdict on this one)
			withinBudget = append(withinBudget, a.ID)
			a.BudgetFailures = 0
		}
		e.count(run.Matched, err)
		if err != nil {
			run.Error = err.Error()
			runs = append(runs, run)
			continue
		}
		if run.Matched {
			if tenant == nil {
				if tenant, err = look.tenant(ctx, ev.TenantID); err != nil {
					return nil, err
				}
			}
			if run.Actions, err = e.apply(ctx, tx, ev, a, tenant, eval.Actions); err != nil {
				return nil, err
			}
		}
		runs = append(runs, run)
	}
	return runs, tx.NoteBudgetOutcomes(ctx, ev.TenantID, overBudget, withinBudget, MaxBudgetFailures)
}

// delayed returns the automation an automation.delay_elapsed event is for, if it is still
// enabled and delayed.
func delayed(ctx context.Context, tx *store.Conn, ev *domain.TicketEvent) ([]domain.Automation, error) {
	a, err := tx.GetAutomation(ctx, ev.TenantID, ev.Automation)
	if domain.ErrorCode(err) == domain.ENOTFOUND || (err == nil && (!a.Enabled || a.Delay == 0)) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []domain.Automation{*a}, nil
}

// arm (re)arms delay automation a's timer for the event, the nth the event arms, and
// gives it to Temporal after commit. Past a bound (timers per event, armed timers per
// tenant) it arms nothing and returns why, for the run.
func (e *Engine) arm(ctx context.Context, tx *store.Conn, a *domain.Automation, ev *domain.TicketEvent, nth int) (string, error) {
	if nth > domain.MaxTimersPerEvent {
		return fmt.Sprintf("timer not armed: one event arms at most %d timers, and this automation comes after them in evaluation order", domain.MaxTimersPerEvent), nil
	}
	full, err := e.armed.atCap(ctx, tx, ev.TenantID)
	if err != nil {
		return "", err
	}
	var t *store.Timer
	if full {
		t, err = tx.RearmDelay(ctx, a, ev)
	} else {
		t, err = tx.ArmDelay(ctx, a, ev)
	}
	if err != nil {
		return "", err
	}
	if t == nil && full {
		// None was armed to re-arm (a rule without rearm keeps one that is: nothing to say).
		if armed, err := tx.TimerArmed(ctx, store.DelayTimerID(a.ID, ev.TicketID, ev.Type)); err != nil || armed {
			return "", err
		}
		return fmt.Sprintf("timer not armed: the tenant has %d delay timers armed, the most it may have; new ones are armed again as armed ones fire or their automations are disabled", domain.MaxArmedTimersByTenant), nil
	}
	if t == nil {
		return "", nil
	}
	if t.Added {
		e.armed.added(ev.TenantID)
	}
	if e.Arm != nil {
		tx.AfterCommit(ctx, func(ctx context.Context) { e.Arm(ctx, t) })
	}
	return "", nil
}

// count records an evaluation's result in the metrics, and the budget that stopped it.
func (e *Engine) count(matched bool, err error) {
	switch {
	case err == nil && matched:
		e.Metrics.AutomationEvaluated("matched")
	case err == nil:
		e.Metrics.AutomationEvaluated("not_matched")
	default:
		e.Metrics.AutomationEvaluated("error")
	}
	switch {
	case errors.Is(err, rules.ErrBudget):
		e.Metrics.BudgetExceeded("rule")
	case errors.Is(err, rules.ErrEventBudget):
		e.Metrics.BudgetExceeded("event")
	case errors.Is(err, rules.ErrTooSlow):
		e.Metrics.BudgetExceeded("wall_clock")
	}
}

// MaxBudgetFailures is how many evaluations in a row may exceed the rule budget before the
// automation is disabled.
const MaxBudgetFailures = 5

// skipReason applies loop protection.
func (e *Engine) skipReason(ev *domain.TicketEvent, automationID string) string {
	switch {
	case ev.Origin.Depth >= e.maxDepth():
		return fmt.Sprintf("loop protection: the chain reached the depth limit (%d)", e.maxDepth())
	case ev.Origin.CausedBy == automationID:
		return "loop protection: this automation caused the event"
	case slices.Contains(ev.Origin.Chain, automationID):
		return "loop protection: this automation already fired in this chain"
	}
	return ""
}

// apply carries out a matched automation's actions in order, as the automation.
func (e *Engine) apply(ctx context.Context, tx *store.Conn, ev *domain.TicketEvent, a *domain.Automation, tenant *domain.Tenant, rendered []rules.Rendered) ([]domain.RunAction, error) {
	ctx = domain.WithOrigin(ctx, domain.Origin{
		Actor:    "automation:" + a.ID,
		Depth:    ev.Origin.Depth + 1,
		Chain:    append(slices.Clone(ev.Origin.Chain), a.ID),
		CausedBy: a.ID,
	})
	out := make([]domain.RunAction, len(rendered))
	for i, r := range rendered {
		out[i] = domain.RunAction{Type: r.Spec.Type}
		if r.Err != nil {
			out[i].Error = r.Err.Error()
			continue
		}
		var err error
		switch r.Spec.Type {
		case domain.AutomationCustomHTTP:
			out[i].ActionID, err = e.startAction(ctx, tx, ev, a, i, tenant, r.HTTP)
		case domain.AutomationSetFields:
			u := domain.TicketUpdate{Status: r.Spec.Status, Priority: r.Spec.Priority, AddTags: r.Spec.AddTags, RemoveTags: r.Spec.RemoveTags}
			if err = u.Normalize(); err == nil {
				// Written with the batch's other changes (store.FlushTicketWrites).
				err = tx.DeferTicketUpdate(ctx, ev.TenantID, ev.TicketID, u, &out[i].Error)
			}
		case domain.AutomationAddNote:
			m := domain.MessageCreate{Role: domain.RoleNote, Content: r.Content}
			if err = m.Normalize(); err == nil {
				err = tx.DeferNote(ctx, ev.TenantID, ev.TicketID, m, &out[i].Error)
			}
		}
		if err != nil {
			var de *domain.Error
			if !errors.As(err, &de) || de.Code == domain.EINTERNAL {
				return nil, err
			}
			out[i].Error = de.Message
		}
	}
	return out, nil
}

// startAction stores a custom_http action for the event and starts it after commit. Its
// ID is derived from (event, automation, index): evaluating the event again yields the
// same action, never a second one.
func (e *Engine) startAction(ctx context.Context, tx *store.Conn, ev *domain.TicketEvent, a *domain.Automation, index int, tenant *domain.Tenant, p domain.CustomHTTPPayload) (string, error) {
	call, err := p.Validate(tenant.ActionSettings())
	if err != nil {
		return "", err
	}
	act := &domain.Action{
		ID:       domain.DerivedID(domain.PrefixAction, ev.OccurredAt, ev.ID, a.ID, strconv.Itoa(index)),
		TenantID: ev.TenantID, TicketID: ev.TicketID, Type: domain.ActionTypeCustomHTTP,
		RequestedBy: "automation:" + a.ID, Payload: p, Request: call, Origin: domain.OriginAutomation,
	}
	if err := tx.CreateAction(ctx, act); err != nil {
		return "", err
	}
	if e.Start != nil {
		tx.AfterCommit(ctx, func(ctx context.Context) { e.Start(ctx, act) })
	}
	return act.ID, nil
}

// Run consumes the outbox until ctx ends with Consumers goroutines: each processes every
// waiting event, then sleeps until a notification says another arrived, or pollInterval
// passes; another purges old processed events. Several workers can run it at once; each
// event is claimed by one of them.
func (e *Engine) Run(ctx context.Context) {
	wakes := make([]chan struct{}, e.consumers())
	var loops sync.WaitGroup
	for i := range wakes {
		wakes[i] = make(chan struct{}, 1)
		loops.Go(func() { e.consume(ctx, wakes[i]) })
	}
	loops.Go(func() { e.purge(ctx) })
	// A notification, or one that may have been missed (the connection dropped or came
	// back), wakes every consumer; without a connection they poll.
	wakeAll := func() {
		for _, w := range wakes {
			select {
			case w <- struct{}{}:
			default: // already due to look
			}
		}
	}
	e.Store.Listen(ctx, store.EventsChannel, e.Log.With("for", "automations"), func(string) { wakeAll() }, wakeAll)
	loops.Wait()
}

// purge deletes processed events past eventRetention every cleanupEvery until ctx ends, in
// a goroutine of its own: the consumers evaluate events, and are woken, while it deletes.
func (e *Engine) purge(ctx context.Context) {
	cleanup := time.NewTicker(cleanupEvery)
	defer cleanup.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-cleanup.C:
		}
		if n, err := e.Store.DeleteProcessedEvents(ctx, time.Now().Add(-eventRetention)); err != nil && ctx.Err() == nil {
			e.Log.Warn("automations: deleting old events", "err", err)
		} else if n > 0 {
			e.Log.Info("automations: deleted old events", "count", n)
		}
	}
}

// consume drains the outbox, then waits for wake or pollInterval, until ctx ends.
func (e *Engine) consume(ctx context.Context, wake <-chan struct{}) {
	for ctx.Err() == nil {
		e.Drain(ctx)
		select {
		case <-ctx.Done():
		case <-wake:
		case <-time.After(pollInterval):
		}
	}
}

// consumers is how many goroutines of one worker consume the outbox: while one waits for
// the database (a claim, a commit), another works, so a worker keeps up with more.
func (e *Engine) consumers() int {
	if e.Consumers > 0 {
		return e.Consumers
	}
	return defaultConsumers
}

const defaultConsumers = 3

// Drain processes events until none waits (or ctx ends). It claims them in batches of
// batchSize, tenants in turn, and evaluates a batch in one transaction (one commit); an
// event tried before goes alone, so that a poison event cannot use up its batch-mates'
// attempts. A batch that takes longer than batchTime commits what it did and gives back
// the rest, so a tenant whose events arrive meanwhile waits behind at most batchTime and
// one event.
func (e *Engine) Drain(ctx context.Context) {
	contended := 0
	for ctx.Err() == nil {
		claim, err := e.Store.ClaimEvents(ctx, batchSize)
		if err != nil {
			if ctx.Err() == nil {
				e.Log.Warn("automations: claiming events failed; retrying", "err", err)
				sleepCtx(ctx, errorBackoff)
			}
			continue
		}
		if claim.Empty() {
			if !claim.Contended {
				return
			}
			// Another worker's claim held them all at that moment, and the next are free
			// once it commits; the pause doubles (up to 100 ms) while that lasts, in case
			// something holds them longer.
			sleepCtx(ctx, min(time.Millisecond<<contended, 100*time.Millisecond))
			contended++
			continue
		}
		contended = 0
		var fresh, retried []string
		for _, c := range claim.Events {
			if c.Attempts > 1 {
				retried = append(retried, c.ID)
			} else {
				fresh = append(fresh, c.ID)
			}
		}
		deadline := time.Now().Add(batchTime)
		left := e.process(ctx, fresh, deadline)
		for _, id := range retried {
			if time.Now().After(deadline) {
				left = append(left, id)
				continue
			}
			left = append(left, e.process(ctx, []string{id}, time.Time{})...)
		}
		if len(left) > 0 {
			if err := e.Store.ReleaseEvents(context.WithoutCancel(ctx), left); err != nil {
				e.Log.Warn("automations: releasing events failed; their lease will run out", "err", err)
			}
		}
		if len(claim.Events)+claim.Skipped < batchSize {
			// The outbox is shallow: the next claim waits a moment for more events, so that
			// a steady stream is taken in batches rather than a few events a claim. Each
			// claim is a transaction of its own, and under load claiming that often cost
			// the database more than the events did (issue 21).
			sleepCtx(ctx, e.linger())
		}
	}
}

// linger is how long a worker waits before claiming again after a claim that did not fill
// its batch: an event arriving while the worker is idle is claimed at once (the
// notification wakes it); the next ones wait up to this long.
func (e *Engine) linger() time.Duration {
	if e.Linger != 0 {
		return max(e.Linger, 0)
	}
	return defaultLinger
}

const defaultLinger = 20 * time.Millisecond

// process evaluates ids in one transaction until the deadline and returns those it did not
// get to.
func (e *Engine) process(ctx context.Context, ids []string, until time.Time) []string {
	if len(ids) == 0 {
		return nil
	}
	done, errs, err := e.Store.ProcessClaimedEvents(ctx, ids, until, e.batchHandler())
	if err != nil {
		if ctx.Err() == nil {
			e.Log.Warn("automations: processing events failed; they will be retried", "count", len(ids), "err", err)
			sleepCtx(ctx, errorBackoff)
			if err := e.Store.RetryEventsSoon(ctx, ids); err != nil {
				e.Log.Warn("automations: their lease will run out first", "err", err)
			}
		}
		return nil // still claimed, with the attempt counted
	}
	for i, fnErr := range errs {
		if fnErr != nil && ctx.Err() == nil {
			e.Log.Warn("automations: an event failed; it will be retried", "event_id", ids[i], "err", fnErr)
		}
	}
	return ids[done:]
}

// Batches: how many events a worker claims at once, and how long it works through them
// before giving back the rest.
const (
	batchSize = 100
	batchTime = 50 * time.Millisecond
)

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
