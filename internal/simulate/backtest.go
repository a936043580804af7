package simulate

import (
	"context"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/rules"
	"github.com/threada/threada/internal/store"
)

// Backtest limits: how far back, how many events, how many samples, how long evaluation may
// take (the request's database work is bounded too), and the events read per query.
const (
	MaxBacktestDays     = 30
	DefaultBacktestDays = 7
	MaxBacktestEvents   = 10_000
	BacktestSamples     = 20
	backtestTime        = 3 * time.Second
	backtestPage        = 500
)

// BacktestInput is a draft automation (not saved) and how many days back to test it.
type BacktestInput struct {
	Condition *string
	Events    *[]string
	Actions   *[]domain.AutomationAction
	Days      *int // DefaultBacktestDays when nil
}

// BacktestResult counts what the draft would have matched since Since, with up to
// BacktestSamples of the newest matches.
type BacktestResult struct {
	Since     time.Time
	Evaluated int
	Matched   int
	Errors    int
	Complete  bool // every event since Since was evaluated
	Samples   []BacktestSample
}

// BacktestSample is a past event the draft matches, with its explanation and its actions
// as they would have run.
type BacktestSample struct {
	EventID     string
	EventType   string
	TicketID    string
	OccurredAt  time.Time
	Explanation *domain.Explanation
	Actions     []Action
}

// Backtest evaluates a draft automation against the tenant's stored events of the last
// days, newest first, at most MaxBacktestEvents of them and for at most backtestTime.
// Nothing is written or started, and no transaction is held while it evaluates. Errors:
// EINVALID for the draft.
func Backtest(ctx context.Context, db *store.Conn, tenantID string, in BacktestInput) (*BacktestResult, error) {
	name := "backtest"
	ai := domain.AutomationInput{Name: &name, Events: in.Events, Condition: in.Condition, Actions: in.Actions}
	if err := ai.CheckStatic(true); err != nil {
		return nil, err
	}
	days := DefaultBacktestDays
	if in.Days != nil {
		if days = *in.Days; days < 1 || days > MaxBacktestDays {
			return nil, domain.Invalidf("days", "`days` must be from 1 to %d.", MaxBacktestDays)
		}
	}
	compiled, tenant, err := checkedRule(ctx, db, tenantID, domain.Rule{Condition: *ai.Condition, Actions: *ai.Actions})
	if err != nil {
		return nil, err
	}
	since := time.Now().Add(-time.Duration(days) * 24 * time.Hour).UTC()
	b := newBacktest(compiled, tenant, since, time.Now().Add(backtestTime))
	var after *store.EventCursor
	for b.out.Evaluated < MaxBacktestEvents {
		events, err := db.RecentEvents(ctx, tenantID, *ai.Events, since, after, min(backtestPage, MaxBacktestEvents-b.out.Evaluated))
		if err != nil {
			return nil, err
		}
		if !b.evaluate(events) || len(events) < backtestPage {
			return &b.out, nil
		}
		last := events[len(events)-1]
		after = &store.EventCursor{OccurredAt: last.OccurredAt, ID: last.ID}
	}
	// Stopped at the cap: complete only if no older event is left.
	if more, err := db.RecentEvents(ctx, tenantID, *ai.Events, since, after, 1); err != nil {
		return nil, err
	} else if len(more) > 0 {
		b.out.Complete = false
	}
	return &b.out, nil
}

// backtest is a backtest under way: the draft, and what it found so far.
type backtest struct {
	compiled *rules.Compiled
	tenant   *domain.Tenant
	deadline time.Time
	machine  rules.Machine
	out      BacktestResult
}

func newBacktest(compiled *rules.Compiled, tenant *domain.Tenant, since, deadline time.Time) *backtest {
	return &backtest{compiled: compiled, tenant: tenant, deadline: deadline,
		out: BacktestResult{Since: since, Samples: []BacktestSample{}, Complete: true}}
}

// evaluate evaluates events (newest first) and counts them, explaining the matches while
// samples are wanted. It returns false, the result incomplete, once the deadline passed.
func (b *backtest) evaluate(events []*domain.TicketEvent) bool {
	for _, ev := range events {
		if time.Now().After(b.deadline) {
			b.out.Complete = false
			return false
		}
		b.out.Evaluated++
		detail := rules.MatchOnly
		if len(b.out.Samples) < BacktestSamples {
			detail = rules.ExplainedIfMatched
		}
		eval := b.compiled.Evaluate(&b.machine, rules.NewEnv(ev), detail)
		switch {
		case eval.Err != nil:
			b.out.Errors++
		case eval.Matched:
			b.out.Matched++
			if detail != rules.MatchOnly {
				b.out.Samples = append(b.out.Samples, BacktestSample{EventID: ev.ID, EventType: ev.Type, TicketID: ev.TicketID,
					OccurredAt: ev.OccurredAt, Explanation: eval.Explanation, Actions: actionsOf(eval.Actions, b.tenant, ev.Ticket)})
			}
		}
	}
	return true
}
