package main

import (
	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/simulate"
	"github.com/threada/threada/internal/store"
)

// dryRunRequest is the body of POST /automations/test.
type dryRunRequest struct {
	Condition    *string                       `json:"condition"`
	Actions      *[]domain.AutomationAction    `json:"actions"` // with condition: a draft's actions
	AutomationID *string                       `json:"automation_id"`
	TicketID     *string                       `json:"ticket_id"`
	Ticket       *ticketSnapshot               `json:"ticket"`
	Changes      map[string]domain.FieldChange `json:"changes"`
	Event        *dryRunEvent                  `json:"event"`
	Message      *createMessageRequest         `json:"message"`
}

// ticketSnapshot is a ticket as a dry run may describe it, in the API's own shape; a field
// left out takes a new ticket's default, and an enum given empty is refused, as on create.
type ticketSnapshot struct {
	TicketID     string        `json:"ticket_id"`
	Subject      string        `json:"subject"`
	Status       nonBlank      `json:"status"`
	Priority     nonBlank      `json:"priority"`
	Channel      nonBlank      `json:"channel"`
	Tags         []string      `json:"tags"`
	MessageCount int           `json:"message_count"`
	Contact      *contactInput `json:"contact"`
}

type dryRunEvent struct {
	Type  nonBlank `json:"type"` // ticket.updated when left out
	Actor string   `json:"actor"`
}

type dryRunResponse struct {
	Matched     bool             `json:"matched"`
	Actions     []dryRunAction   `json:"actions"`
	Error       *string          `json:"error"`
	Explanation *explanationView `json:"explanation"`
}

// dryRunAction is an action as a dry run or a backtest shows it: for custom_http the exact
// request.
type dryRunAction = simulate.Action

// testAutomation handles POST /automations/test: evaluates a condition or a saved
// automation against a ticket (stored, or described) and renders what would be done,
// with no side effect at all.
func (s *server) testAutomation(c *fiber.Ctx, db *store.Conn) error {
	var req dryRunRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	in := simulate.DryRunInput{Condition: req.Condition, Actions: req.Actions, AutomationID: req.AutomationID,
		TicketID: req.TicketID, Changes: req.Changes, At: nowUTC()}
	if t := req.Ticket; t != nil {
		in.Ticket = &simulate.TicketSnapshot{TicketID: t.TicketID, Subject: t.Subject, Status: string(t.Status), Priority: string(t.Priority),
			Channel: string(t.Channel), Tags: t.Tags, MessageCount: t.MessageCount, Contact: t.Contact.toDomain()}
	}
	if e := req.Event; e != nil {
		in.EventType, in.Actor = string(e.Type), e.Actor
	}
	if m := req.Message; m != nil {
		in.Message = m.toDomain()
	}
	key := keyOf(c)
	r, err := simulate.DryRun(c.UserContext(), db, key.TenantID, "api_key:"+key.ID, in)
	if err != nil {
		return err
	}
	out := dryRunResponse{Matched: r.Matched, Actions: r.Actions, Explanation: explanationViewOf(r.Explanation)}
	if r.Err != nil {
		msg := r.Err.Error()
		out.Error = &msg
	}
	return c.JSON(out)
}
