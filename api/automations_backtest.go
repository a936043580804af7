package main

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/rules"
	"github.com/threada/threada/internal/store"
)

// Backtest limits: how far back, how many events, how many samples, how long evaluation may
// take (the request's database work is bounded too), and the events read per query.
const (
	maxBacktestDays     = 30
	defaultBacktestDays = 7
	maxBacktestEvents   = 10_000
	backtestSamples     = 20
	backtestTime        = 3 * time.Second
	backtestPage        = 500
)

type backtestRequest struct {
	Condition *string                    `json:"condition"`
	Events    *[]string                  `json:"events"`
	Actions   *[]domain.AutomationAction `json:"actions"`
	Days      *int                       `json:"days"`
}

type backtestSample struct {
	EventID     string           `json:"event_id"`
	EventType   string           `json:"event_type"`
	TicketID    string           `json:"ticket_id"`
	OccurredAt  timestamp        `json:"occurred_at"`
	Explanation *explanationView `json:"explanation"`
	Actions     []dryRunAction   `json:"actions"`
}

type backtestResponse struct {
	Since     timestamp        `json:"since"`
	Evaluated int              `json:"evaluated"`
	Matched   int              `json:"matched"`
	Errors    int              `json:"errors"`
	Complete  bool             `json:"complete"`
	Samples   []backtestSample `json:"samples"`
}

// backtestAutomation handles POST /automations/backtest: a draft automation (condition,
// events, actions; not saved) evaluated against the tenant's stored events of the last
// `days` days, newest first, at most maxBacktestEvents of them and for at most
// backtestTime: counts, and up to backtestSamples matches with their explanation and the
// actions as they would have run. Nothing is written or started, so Idempotency-Key is not
// needed, and no transaction is held while it evaluates.
func (s *server) backtestAutomation(c *fiber.Ctx) error {
	db := &s.store.Conn
	var req backtestRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	name := "backtest"
	in := domain.AutomationInput{Name: &name, Events: req.Events, Condition: req.Condition, Actions: req.Actions}
	if err := in.CheckStatic(true); err != nil {
		return err
	}
	days := defaultBacktestDays
	if req.Days != nil {
		if days = *req.Days; days < 1 || days > maxBacktestDays {
			return domain.Invalidf("days", "`days` must be from 1 to %d.", maxBacktestDays)
		}
	}
	key := keyOf(c)
	draft := &domain.Automation{ID: "aut_backtest", TenantID: key.TenantID, Version: 1, Events: *in.Events, Condition: *in.Condition, Actions: *in.Actions}
	if err := s.checkAutomation(c, db, draft); err != nil {
		return err
	}
	compiled, err := rules.Compile(draft.Rule())
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	tenant, err := db.GetTenant(ctx, key.TenantID)
	if err != nil {
		return err
	}
	since := time.Now().Add(-time.Duration(days) * 24 * time.Hour).UTC()
	out := backtestResponse{Since: timestamp(since), Samples: []backtestSample{}, Complete: true}
	deadline := time.Now().Add(backtestTime)
	var machine rules.Machine
	var after *store.EventCursor
	for out.Evaluated < maxBacktestEvents {
		events, err := db.RecentEvents(ctx, key.TenantID, draft.Events, since, after, min(backtestPage, maxBacktestEvents-out.Evaluated))
		if err != nil {
			return err
		}
		for _, ev := range events {
			if time.Now().After(deadline) {
				out.Complete = false
				return c.JSON(out)
			}
			out.Evaluated++
			detail := rules.MatchOnly
			if len(out.Samples) < backtestSamples {
				detail = rules.ExplainedIfMatched
			}
			eval := compiled.Evaluate(&machine, rules.NewEnv(ev), detail)
			switch {
			case eval.Err != nil:
				out.Errors++
			case eval.Matched:
				out.Matched++
				if len(out.Samples) < backtestSamples {
					sample := backtestSample{EventID: ev.ID, EventType: ev.Type, TicketID: ev.TicketID, OccurredAt: timestamp(ev.OccurredAt), Actions: []dryRunAction{}}
					for _, r := range eval.Actions {
						sample.Actions = append(sample.Actions, renderDryRun(r, tenant, ev.Ticket))
					}
					sample.Explanation = explanationViewOf(eval.Explanation)
					out.Samples = append(out.Samples, sample)
				}
			}
		}
		if len(events) < backtestPage {
			return c.JSON(out)
		}
		last := events[len(events)-1]
		after = &store.EventCursor{OccurredAt: last.OccurredAt, ID: last.ID}
	}
	// Stopped at the cap: complete only if no older event is left.
	if more, err := db.RecentEvents(ctx, key.TenantID, draft.Events, since, after, 1); err != nil {
		return err
	} else if len(more) > 0 {
		out.Complete = false
	}
	return c.JSON(out)
}
