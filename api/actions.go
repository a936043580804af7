package main

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// maxPreferWait caps `Prefer: wait=N`.
const maxPreferWait = 30 * time.Second

// defaultCancelWait is how long a cancel waits for the run to acknowledge it.
const defaultCancelWait = 10 * time.Second

type actionView struct {
	ActionID       string                   `json:"action_id"`
	TenantID       string                   `json:"tenant_id"`
	TicketID       string                   `json:"ticket_id"`
	ActionType     string                   `json:"action_type"`
	Status         string                   `json:"status"`
	RequestedBy    string                   `json:"requested_by"`
	Payload        domain.CustomHTTPPayload `json:"payload"`
	CreatedAt      timestamp                `json:"created_at"`
	UpdatedAt      timestamp                `json:"updated_at"`
	CompletedAt    *timestamp               `json:"completed_at"`
	Attempts       int                      `json:"attempts"`
	NextAttemptAt  *timestamp               `json:"next_attempt_at"`
	LastError      *string                  `json:"last_error"`
	CanceledReason *string                  `json:"canceled_reason"`
	ReplayOf       *string                  `json:"replay_of"`
	Response       *domain.ActionResponse   `json:"response"`
	WorkflowID     string                   `json:"workflow_id"`
	TemporalUIURL  string                   `json:"temporal_ui_url,omitempty"`
}

type actionEnvelope struct {
	Action actionView `json:"action"`
}

func optTime(t *time.Time) *timestamp {
	if t == nil {
		return nil
	}
	ts := timestamp(*t)
	return &ts
}

func (s *server) actionViewOf(a *domain.Action) actionView {
	v := actionView{
		ActionID: a.ID, TenantID: a.TenantID, TicketID: a.TicketID, ActionType: a.Type, Status: a.Status,
		RequestedBy: a.RequestedBy, Payload: a.Payload, CreatedAt: timestamp(a.CreatedAt), UpdatedAt: timestamp(a.UpdatedAt),
		CompletedAt: optTime(a.CompletedAt), Attempts: a.Attempts, NextAttemptAt: optTime(a.NextAttemptAt),
		Response: a.Response, WorkflowID: a.ID, TemporalUIURL: s.actions.UILink(a.ID),
	}
	if a.CanceledReason != "" {
		v.CanceledReason = &a.CanceledReason
	}
	if a.ReplayOf != "" {
		v.ReplayOf = &a.ReplayOf
	}
	if a.LastError != "" {
		v.LastError = &a.LastError
	}
	return v
}

type createActionRequest struct {
	Payload *domain.CustomHTTPPayload `json:"payload"`
}

// createAction handles POST /tickets/{ticket_id}/actions: the action is stored, and its
// workflow started once that is committed (see actions.Runner.Start for an outage).
func (s *server) createAction(c *fiber.Ctx, db *store.Conn) error {
	ticketID, err := ticketIDParam(c)
	if err != nil {
		return err
	}
	var req createActionRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if req.Payload == nil {
		return domain.Invalidf("payload", "`payload` is required: {\"payload\": {\"type\": \"custom_http\", \"method\": ..., \"url\": ...}}.")
	}
	key := keyOf(c)
	ctx := c.UserContext()
	if err := db.CheckTicket(ctx, key.TenantID, ticketID); err != nil {
		return err
	}
	tenant, err := db.GetTenant(ctx, key.TenantID)
	if err != nil {
		return err
	}
	call, err := req.Payload.Validate(tenant.ActionSettings())
	if err != nil {
		return err
	}
	a := &domain.Action{
		ID: domain.NewID(domain.PrefixAction), TenantID: key.TenantID, TicketID: ticketID,
		Type: domain.ActionTypeCustomHTTP, RequestedBy: "api_key:" + key.ID, Payload: *req.Payload, Request: call,
	}
	if err := db.CreateAction(ctx, a); err != nil {
		return err
	}
	db.AfterCommit(ctx, func(ctx context.Context) { _ = s.actions.Start(ctx, a) })
	return c.Status(fiber.StatusCreated).JSON(actionEnvelope{Action: s.actionViewOf(a)})
}

// replayAction handles POST /actions/{action_id}/replay: a finished action's payload runs
// again as a new action (replay_of names the original), checked against the tenant's
// settings as they are now, and sent with the original's webhook-id and Idempotency-Key so
// that a receiver that processed the original can tell.
func (s *server) replayAction(c *fiber.Ctx, db *store.Conn) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	orig, err := s.actionParam(c, db)
	if err != nil {
		return err
	}
	if !domain.ActionTerminal(orig.Status) {
		return domain.Errorf(domain.ECONFLICT, "Action %s is still %s; only a finished action (succeeded, failed, canceled or timed_out) can be replayed.", orig.ID, orig.Status)
	}
	ctx := c.UserContext()
	tenant, err := db.GetTenant(ctx, orig.TenantID)
	if err != nil {
		return err
	}
	a, err := orig.Replay(tenant.ActionSettings(), "api_key:"+keyOf(c).ID)
	if err != nil {
		return err
	}
	a.ID = domain.NewID(domain.PrefixAction)
	if err := db.CreateAction(ctx, a); err != nil {
		return err
	}
	db.AfterCommit(ctx, func(ctx context.Context) { _ = s.actions.Start(ctx, a) })
	return c.Status(fiber.StatusCreated).JSON(actionEnvelope{Action: s.actionViewOf(a)})
}

// preferWait applies `Prefer: wait=N` to a POST that answers an action, after its
// transaction has committed: it holds the answer until the action is terminal or N
// seconds pass, and answers the action as it then is.
func (s *server) preferWait(c *fiber.Ctx) error {
	wait, ok := parsePreferWait(c.Get("Prefer"))
	if err := c.Next(); err != nil || !ok {
		return err
	}
	status := c.Response().StatusCode()
	if status != fiber.StatusOK && status != fiber.StatusCreated {
		return nil
	}
	var env struct {
		Action struct {
			ActionID string `json:"action_id"`
		} `json:"action"`
	}
	if json.Unmarshal(c.Response().Body(), &env) != nil || env.Action.ActionID == "" {
		return nil
	}
	a, err := s.store.GetAction(c.UserContext(), keyOf(c).TenantID, env.Action.ActionID)
	if err != nil {
		return err
	}
	a = s.actions.Wait(c.UserContext(), s.actions.Live(c.UserContext(), a), wait)
	c.Set("Preference-Applied", "wait="+strconv.Itoa(int(wait.Seconds())))
	return c.Status(status).JSON(actionEnvelope{Action: s.actionViewOf(a)})
}

// parsePreferWait reads wait=N (seconds, capped at 30) from a Prefer header (RFC 7240).
func parsePreferWait(h string) (time.Duration, bool) {
	for _, pref := range strings.FieldsFunc(h, func(r rune) bool { return r == ',' || r == ';' }) {
		name, value, _ := strings.Cut(strings.TrimSpace(pref), "=")
		if !strings.EqualFold(strings.TrimSpace(name), "wait") {
			continue
		}
		n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(value), `"`))
		if err != nil || n <= 0 {
			return 0, false
		}
		return min(time.Duration(n)*time.Second, maxPreferWait), true
	}
	return 0, false
}

// getAction handles GET /actions/{action_id}, with live status while the action runs.
func (s *server) getAction(c *fiber.Ctx) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	a, err := s.actionParam(c, &s.store.Conn)
	if err != nil {
		return err
	}
	a = s.actions.Live(c.UserContext(), a)
	if wait, ok := parsePreferWait(c.Get("Prefer")); ok {
		a = s.actions.Wait(c.UserContext(), a, wait)
		c.Set("Preference-Applied", "wait="+strconv.Itoa(int(wait.Seconds())))
	}
	return c.JSON(actionEnvelope{Action: s.actionViewOf(a)})
}

// cancelAction handles POST /actions/{action_id}/cancel: a queued, running or retrying
// action stops; an attempt already in flight may still reach the receiver.
func (s *server) cancelAction(c *fiber.Ctx, db *store.Conn) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	a, err := s.actionParam(c, db)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if domain.ActionTerminal(a.Status) {
		return domain.Errorf(domain.ECONFLICT, "Action %s already %s; only queued, running or retrying actions can be canceled.", a.ID, a.Status)
	}
	if !a.Started {
		done, err := db.CancelUnstarted(ctx, a.TenantID, a.ID)
		if err != nil {
			return err
		}
		if a, err = db.GetAction(ctx, a.TenantID, a.ID); err != nil {
			return err
		}
		if done {
			return c.JSON(actionEnvelope{Action: s.actionViewOf(a)})
		}
	}
	// Temporal and the wait for the run to end happen outside any transaction.
	if db, err = s.store.Detach(ctx, db); err != nil {
		return err
	}
	if err := s.actions.Cancel(ctx, a); err != nil {
		return err
	}
	a = s.actions.Wait(ctx, a, s.cancelWait)
	return c.JSON(actionEnvelope{Action: s.actionViewOf(a)})
}

// listActions handles GET /tickets/{ticket_id}/actions, newest first. Statuses are those
// recorded in PostgreSQL; GET /actions/{id} adds the live detail of a running one.
func (s *server) listActions(c *fiber.Ctx) error {
	ticketID, err := ticketIDParam(c)
	if err != nil {
		return err
	}
	l, err := parseListing(c, "actions", ticketID)
	if err != nil {
		return err
	}
	var after *domain.ActionCursor
	if l.after != nil {
		after = &domain.ActionCursor{CreatedAt: l.after.time(), ID: l.after.ID}
	}
	acts, more, err := s.store.ListActions(c.UserContext(), keyOf(c).TenantID, ticketID, after, l.limit)
	if err != nil {
		return err
	}
	return c.JSON(pageFor(l, acts, more, s.actionViewOf, func(a *domain.Action) (time.Time, string) { return a.CreatedAt, a.ID }))
}

// actionParam loads {action_id} within the caller's tenant; a malformed id is a 404.
func (s *server) actionParam(c *fiber.Ctx, db *store.Conn) (*domain.Action, error) {
	id := c.Params("action_id")
	if !domain.ValidID(domain.PrefixAction, id) {
		return nil, domain.Errorf(domain.ENOTFOUND, "No action %q exists.", id)
	}
	return db.GetAction(c.UserContext(), keyOf(c).TenantID, id)
}

// attemptView is one attempt in GET /actions/{action_id}/attempts.
type attemptView struct {
	Attempt       int                    `json:"attempt"`
	StartedAt     timestamp              `json:"started_at"`
	CompletedAt   *timestamp             `json:"completed_at"`
	DurationMS    *int64                 `json:"duration_ms"`
	Outcome       *string                `json:"outcome"`
	StatusCode    *int                   `json:"status_code"`
	Error         *string                `json:"error"`
	Response      *domain.ActionResponse `json:"response"`
	NextAttemptAt *timestamp             `json:"next_attempt_at"`
}

func attemptViewOf(a *domain.ActionAttempt) attemptView {
	v := attemptView{Attempt: a.Attempt, StartedAt: timestamp(a.StartedAt), CompletedAt: optTime(a.CompletedAt),
		Response: a.Response, NextAttemptAt: optTime(a.NextAttemptAt)}
	if a.Outcome != "" {
		v.Outcome = &a.Outcome
	}
	if a.Error != "" {
		v.Error = &a.Error
	}
	switch {
	case a.Response != nil:
		v.StatusCode, v.DurationMS = &a.Response.StatusCode, &a.Response.DurationMS
	case a.CompletedAt != nil:
		d := a.CompletedAt.Sub(a.StartedAt).Milliseconds()
		v.DurationMS = &d
	}
	return v
}

// listAttempts handles GET /actions/{action_id}/attempts: every attempt, the one in flight
// included, oldest first.
func (s *server) listAttempts(c *fiber.Ctx) error {
	id := c.Params("action_id")
	l, err := parseListing(c, "attempts", id)
	if err != nil {
		return err
	}
	if !domain.ValidID(domain.PrefixAction, id) {
		return domain.Errorf(domain.ENOTFOUND, "No action %q exists.", id)
	}
	after := 0
	if l.after != nil {
		if l.after.ID != id || l.after.Micros < 1 || l.after.Micros > math.MaxInt32 {
			return domain.Invalidf("page_token", "`page_token` is not a token this listing returned; pass next_page_token from the previous page unchanged.")
		}
		after = int(l.after.Micros)
	}
	attempts, more, err := s.store.ListAttempts(c.UserContext(), keyOf(c).TenantID, id, after, l.limit)
	if err != nil {
		return err
	}
	return c.JSON(pageFor(l, attempts, more, attemptViewOf, func(a *domain.ActionAttempt) (time.Time, string) {
		return time.UnixMicro(int64(a.Attempt)), a.ActionID
	}))
}
