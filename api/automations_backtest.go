package main

import (
	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/simulate"
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
// `days` days (simulate.Backtest): counts, and the newest matches with their explanation
// and the actions as they would have run. Nothing is written or started, so
// Idempotency-Key is not needed, and no transaction is held while it evaluates.
func (s *server) backtestAutomation(c *fiber.Ctx) error {
	var req backtestRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	r, err := simulate.Backtest(c.UserContext(), &s.store.Conn, keyOf(c).TenantID,
		simulate.BacktestInput{Condition: req.Condition, Events: req.Events, Actions: req.Actions, Days: req.Days})
	if err != nil {
		return err
	}
	out := backtestResponse{Since: timestamp(r.Since), Evaluated: r.Evaluated, Matched: r.Matched, Errors: r.Errors, Complete: r.Complete,
		Samples: make([]backtestSample, 0, len(r.Samples))}
	for _, m := range r.Samples {
		out.Samples = append(out.Samples, backtestSample{EventID: m.EventID, EventType: m.EventType, TicketID: m.TicketID,
			OccurredAt: timestamp(m.OccurredAt), Explanation: explanationViewOf(m.Explanation), Actions: m.Actions})
	}
	return c.JSON(out)
}
