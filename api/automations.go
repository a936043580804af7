package main

import (
	"context"
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/simulate"
	"github.com/threada/threada/internal/store"
)

const adminPrefix = "/api/v1/admin"

type automationView struct {
	AutomationID string                    `json:"automation_id"`
	TenantID     string                    `json:"tenant_id"`
	Name         string                    `json:"name"`
	Enabled      bool                      `json:"enabled"`
	Events       []string                  `json:"events"`
	Condition    string                    `json:"condition"`
	Actions      []domain.AutomationAction `json:"actions"`
	Position     int                       `json:"position"`
	Version      int                       `json:"version"`
	// Delay makes it a time-based rule (a Go duration such as "48h0m0s"; null: none), and
	// Rearm says whether a newer event re-arms an armed timer.
	Delay *string `json:"delay"`
	Rearm bool    `json:"rearm"`
	// DisabledReason says why the worker disabled the automation (null otherwise).
	DisabledReason *string   `json:"disabled_reason"`
	CreatedAt      timestamp `json:"created_at"`
	UpdatedAt      timestamp `json:"updated_at"`
}

type automationEnvelope struct {
	Automation automationView `json:"automation"`
}

func automationViewOf(a *domain.Automation) automationView {
	var reason *string
	if a.DisabledReason != "" {
		reason = &a.DisabledReason
	}
	var delay *string
	if a.Delay > 0 {
		d := a.Delay.String()
		delay = &d
	}
	return automationView{
		DisabledReason: reason, Delay: delay, Rearm: a.Rearm,
		AutomationID: a.ID, TenantID: a.TenantID, Name: a.Name, Enabled: a.Enabled, Events: a.Events,
		Condition: a.Condition, Actions: a.Actions, Position: a.Position, Version: a.Version,
		CreatedAt: timestamp(a.CreatedAt), UpdatedAt: timestamp(a.UpdatedAt),
	}
}

// automationRequest is the body of create and update; absent fields are nil.
type automationRequest struct {
	Name      *string                    `json:"name"`
	Enabled   *bool                      `json:"enabled"`
	Events    *[]string                  `json:"events"`
	Condition *string                    `json:"condition"`
	Actions   *[]domain.AutomationAction `json:"actions"`
	Position  *int                       `json:"position"`
	// Delay stays raw: absent keeps it, null removes it, a duration string sets it.
	Delay json.RawMessage `json:"delay"`
	Rearm *bool           `json:"rearm"`
}

func (r *automationRequest) input() (domain.AutomationInput, error) {
	in := domain.AutomationInput{Name: r.Name, Enabled: r.Enabled, Events: r.Events, Condition: r.Condition, Actions: r.Actions, Position: r.Position, Rearm: r.Rearm}
	switch {
	case len(r.Delay) == 0:
	case string(r.Delay) == "null":
		in.ClearDelay = true
	default:
		var text string
		if err := json.Unmarshal(r.Delay, &text); err != nil {
			return in, domain.Invalidf("delay", "`delay` must be a Go duration string such as \"48h\", or null.")
		}
		d, err := time.ParseDuration(text)
		if err != nil {
			return in, domain.Invalidf("delay", "`delay`: %q is not a Go duration such as \"48h\" or \"90m\".", text)
		}
		in.Delay = &d
	}
	return in, nil
}

// checkTiming checks the delay an automation will have against its events as they will be.
func checkTiming(in domain.AutomationInput, current *domain.Automation) error {
	delay, events := time.Duration(0), []string(nil)
	if current != nil {
		delay, events = current.Delay, current.Events
	}
	if in.Delay != nil {
		delay = *in.Delay
	}
	if in.ClearDelay {
		delay = 0
	}
	if in.Events != nil {
		events = *in.Events
	}
	if delay == 0 && in.Delay == nil {
		return nil
	}
	return domain.CheckDelay(delay, events)
}

// createAutomation handles POST /automations.
func (s *server) createAutomation(c *fiber.Ctx, db *store.Conn) error {
	var req automationRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	in, err := req.input()
	if err != nil {
		return err
	}
	if err := in.CheckStatic(true); err != nil {
		return err
	}
	if err := checkTiming(in, nil); err != nil {
		return err
	}
	if err := simulate.CheckCondition(*in.Condition); err != nil {
		return err
	}
	tenantID := keyOf(c).TenantID
	if err := simulate.CheckRule(c.UserContext(), db, tenantID, domain.Rule{Condition: *in.Condition, Actions: *in.Actions}); err != nil {
		return err
	}
	var a *domain.Automation
	err = s.txn(c, db, func(ctx context.Context, tx *store.Conn) error {
		var err error
		if a, err = tx.CreateAutomation(ctx, tenantID, in); err != nil {
			return err
		}
		return s.audit(c, tx, "automation.create", a.ID, nil, automationViewOf(a))
	})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(automationEnvelope{Automation: automationViewOf(a)})
}

// getAutomation handles GET /automations/{automation_id}.
func (s *server) getAutomation(c *fiber.Ctx) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	a, err := s.automationParam(c, &s.store.Conn)
	if err != nil {
		return err
	}
	return c.JSON(automationEnvelope{Automation: automationViewOf(a)})
}

// updateAutomation handles PATCH /automations/{automation_id}: fields present replace the
// automation's, the whole is checked again, and the version goes up.
func (s *server) updateAutomation(c *fiber.Ctx, db *store.Conn) error {
	a, err := s.automationParam(c, db)
	if err != nil {
		return err
	}
	var req automationRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	in, err := req.input()
	if err != nil {
		return err
	}
	if err := in.CheckStatic(false); err != nil {
		return err
	}
	if err := checkTiming(in, a); err != nil {
		return err
	}
	draft := domain.Rule{Condition: a.Condition, Actions: a.Actions}
	if in.Condition != nil {
		if err := simulate.CheckCondition(*in.Condition); err != nil {
			return err
		}
		draft.Condition = *in.Condition
	}
	if in.Actions != nil {
		draft.Actions = *in.Actions
	}
	if err := simulate.CheckRule(c.UserContext(), db, a.TenantID, draft); err != nil {
		return err
	}
	var updated *domain.Automation
	err = s.txn(c, db, func(ctx context.Context, tx *store.Conn) error {
		var err error
		if updated, err = tx.UpdateAutomation(ctx, a.TenantID, a.ID, in); err != nil {
			return err
		}
		if a.Delay > 0 && (!updated.Enabled || updated.Delay == 0) && a.Enabled {
			// PostgreSQL dropped its timers with the change; Temporal's follow.
			if err := s.disarmAfterCommit(ctx, tx, a.ID); err != nil {
				return err
			}
		}
		return s.audit(c, tx, "automation.update", a.ID, automationViewOf(a), automationViewOf(updated))
	})
	if err != nil {
		return err
	}
	return c.JSON(automationEnvelope{Automation: automationViewOf(updated)})
}

// deleteAutomation handles DELETE /automations/{automation_id}, answering the automation
// as it was; its run history stays.
func (s *server) deleteAutomation(c *fiber.Ctx, db *store.Conn) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	a, err := s.automationParam(c, db)
	if err != nil {
		return err
	}
	var deleted *domain.Automation
	err = s.txn(c, db, func(ctx context.Context, tx *store.Conn) error {
		var err error
		if deleted, err = tx.DeleteAutomation(ctx, a.TenantID, a.ID); err != nil {
			return err
		}
		if deleted.Delay > 0 {
			if err := s.disarmAfterCommit(ctx, tx, a.ID); err != nil {
				return err
			}
		}
		return s.audit(c, tx, "automation.delete", a.ID, automationViewOf(deleted), nil)
	})
	if err != nil {
		return err
	}
	return c.JSON(automationEnvelope{Automation: automationViewOf(deleted)})
}

// listAutomations handles GET /automations, in evaluation order.
func (s *server) listAutomations(c *fiber.Ctx) error {
	tenantID := keyOf(c).TenantID
	l, err := parseListing(c, "automations", tenantID)
	if err != nil {
		return err
	}
	var after *store.AutomationCursor
	if l.after != nil {
		after = &store.AutomationCursor{Position: int(l.after.Micros), ID: l.after.ID}
	}
	autos, more, err := s.store.ListAutomations(c.UserContext(), tenantID, after, l.limit)
	if err != nil {
		return err
	}
	return c.JSON(pageFor(l, autos, more, automationViewOf, func(a *domain.Automation) (time.Time, string) {
		return time.UnixMicro(int64(a.Position)), a.ID // the position rides in the token's number
	}))
}

type runView struct {
	RunID             string             `json:"run_id"`
	AutomationID      string             `json:"automation_id"`
	AutomationVersion int                `json:"automation_version"`
	EventID           string             `json:"event_id"`
	EventType         string             `json:"event_type"`
	TicketID          string             `json:"ticket_id"`
	Matched           bool               `json:"matched"`
	Skipped           *string            `json:"skipped"`
	Actions           []domain.RunAction `json:"actions"`
	Error             *string            `json:"error"`
	Explanation       *explanationView   `json:"explanation"`
	EvaluatedAt       timestamp          `json:"evaluated_at"`
}

// explanationView says why a condition held or not, clause by clause, with the same as
// text: `ticket.priority == "urgent" -> false (ticket.priority = "high")` one a line.
type explanationView struct {
	Clauses     []domain.ExplainedClause `json:"clauses"`
	MoreClauses int                      `json:"more_clauses"`
	Text        string                   `json:"text"`
}

func explanationViewOf(e *domain.Explanation) *explanationView {
	if e == nil {
		return nil
	}
	return &explanationView{Clauses: e.Clauses, MoreClauses: e.MoreClauses, Text: e.String()}
}

func runViewOf(r *domain.AutomationRun) runView {
	v := runView{
		RunID: r.ID, Explanation: explanationViewOf(r.Explanation), AutomationID: r.AutomationID, AutomationVersion: r.AutomationVersion, EventID: r.EventID,
		EventType: r.EventType, TicketID: r.TicketID, Matched: r.Matched, Actions: r.Actions, EvaluatedAt: timestamp(r.EvaluatedAt),
	}
	if r.Skipped != "" {
		v.Skipped = &r.Skipped
	}
	if r.Error != "" {
		v.Error = &r.Error
	}
	return v
}

// listRuns handles GET /automations/{automation_id}/runs, newest first.
func (s *server) listRuns(c *fiber.Ctx) error {
	a, err := s.automationParam(c, &s.store.Conn)
	if err != nil {
		return err
	}
	l, err := parseListing(c, "runs", a.ID)
	if err != nil {
		return err
	}
	var after *store.RunCursor
	if l.after != nil {
		after = &store.RunCursor{EvaluatedAt: l.after.time(), ID: l.after.ID}
	}
	runs, more, err := s.store.ListRuns(c.UserContext(), a.TenantID, a.ID, after, l.limit)
	if err != nil {
		return err
	}
	return c.JSON(pageFor(l, runs, more, runViewOf, func(r *domain.AutomationRun) (time.Time, string) { return r.EvaluatedAt, r.ID }))
}

// disarmAfterCommit tells the timer workflows of an automation whose timers the
// transaction drops that they are disarmed, once it commits.
func (s *server) disarmAfterCommit(ctx context.Context, tx *store.Conn, automationID string) error {
	gen, err := tx.NextTimerGeneration(ctx)
	if err != nil {
		return err
	}
	tx.AfterCommit(ctx, func(ctx context.Context) { s.timers.DisarmAutomation(ctx, automationID, gen) })
	return nil
}

type timerView struct {
	TimerID   string    `json:"timer_id"`
	TicketID  string    `json:"ticket_id"`
	EventType string    `json:"event_type"`
	EventID   string    `json:"event_id"`
	DueAt     timestamp `json:"due_at"`
	ArmedAt   timestamp `json:"armed_at"`
}

func timerViewOf(t *store.Timer) timerView {
	return timerView{TimerID: t.ID, TicketID: t.TicketID, EventType: t.EventType, EventID: t.EventID, DueAt: timestamp(t.DueAt), ArmedAt: timestamp(t.ArmedAt)}
}

// listTimers handles GET /automations/{automation_id}/timers: a delay automation's armed
// timers, soonest due first.
func (s *server) listTimers(c *fiber.Ctx) error {
	a, err := s.automationParam(c, &s.store.Conn)
	if err != nil {
		return err
	}
	l, err := parseListing(c, "timers", a.ID)
	if err != nil {
		return err
	}
	var after *store.TimerCursor
	if l.after != nil {
		after = &store.TimerCursor{DueAt: l.after.time(), ID: l.after.ID}
	}
	ts, more, err := s.store.ListTimers(c.UserContext(), a.TenantID, a.ID, after, l.limit)
	if err != nil {
		return err
	}
	return c.JSON(pageFor(l, ts, more, timerViewOf, func(t *store.Timer) (time.Time, string) { return t.DueAt, t.ID }))
}

// automationParam loads {automation_id} within the caller's tenant.
func (s *server) automationParam(c *fiber.Ctx, db *store.Conn) (*domain.Automation, error) {
	id := c.Params("automation_id")
	if !domain.ValidID(domain.PrefixAutomation, id) {
		return nil, domain.Errorf(domain.ENOTFOUND, "No automation %q exists.", id)
	}
	return db.GetAutomation(c.UserContext(), keyOf(c).TenantID, id)
}
