package main

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/actions"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/rules"
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

// ticketSnapshot is a ticket as a dry run may describe it, in the API's own shape.
type ticketSnapshot struct {
	TicketID     string        `json:"ticket_id"`
	Subject      string        `json:"subject"`
	Status       string        `json:"status"`
	Priority     string        `json:"priority"`
	Channel      string        `json:"channel"`
	Tags         []string      `json:"tags"`
	MessageCount int           `json:"message_count"`
	Contact      *contactInput `json:"contact"`
}

type dryRunEvent struct {
	Type  string `json:"type"`
	Actor string `json:"actor"`
}

type dryRunResponse struct {
	Matched     bool             `json:"matched"`
	Actions     []dryRunAction   `json:"actions"`
	Error       *string          `json:"error"`
	Explanation *explanationView `json:"explanation"`
}

// dryRunAction is an action as it would run: for custom_http the exact request.
type dryRunAction struct {
	Type       string          `json:"type"`
	Request    *dryRunRequestV `json:"request,omitempty"`
	Status     *string         `json:"status,omitempty"`
	Priority   *string         `json:"priority,omitempty"`
	AddTags    []string        `json:"add_tags,omitempty"`
	RemoveTags []string        `json:"remove_tags,omitempty"`
	TagsAfter  []string        `json:"tags_after,omitempty"`
	Content    string          `json:"content,omitempty"`
	Error      string          `json:"error,omitempty"`
}

type dryRunRequestV struct {
	Method         string            `json:"method"`
	URL            string            `json:"url"`
	Headers        map[string]string `json:"headers"`
	Body           string            `json:"body"`
	TimeoutMS      int               `json:"timeout_ms"`
	MaxAttempts    int               `json:"max_attempts"`
	ThreadaHeaders []string          `json:"threada_headers"`
}

// testAutomation handles POST /automations/test: evaluates a condition or a saved
// automation against a ticket (stored, or described) and renders what would be done,
// with no side effect at all.
func (s *server) testAutomation(c *fiber.Ctx, db *store.Conn) error {
	var req dryRunRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if (req.Condition == nil) == (req.AutomationID == nil) {
		return domain.Invalidf("condition", "Give exactly one of `condition` and `automation_id`.")
	}
	if (req.TicketID == nil) == (req.Ticket == nil) {
		return domain.Invalidf("ticket_id", "Give exactly one of `ticket_id` and `ticket`.")
	}
	ctx := c.UserContext()
	key := keyOf(c)
	ev, err := s.dryRunEvent(c, db, &req)
	if err != nil {
		return err
	}
	var compiled *rules.Compiled
	if req.Condition != nil {
		draft := &domain.Automation{Condition: *req.Condition}
		if req.Actions != nil {
			in := domain.AutomationInput{Actions: req.Actions}
			if err := in.CheckStatic(false); err != nil {
				return err
			}
			draft.Actions = *in.Actions
		}
		if compiled, err = rules.Compile(draft.Rule()); err != nil {
			return err
		}
	} else {
		if req.Actions != nil {
			return domain.Invalidf("actions", "`actions` goes with `condition` (a draft); a saved automation is tested with its own.")
		}
		if !domain.ValidID(domain.PrefixAutomation, *req.AutomationID) {
			return domain.Errorf(domain.ENOTFOUND, "No automation %q exists.", *req.AutomationID)
		}
		a, err := db.GetAutomation(ctx, key.TenantID, *req.AutomationID)
		if err != nil {
			return err
		}
		if compiled, err = rules.Compile(a.Rule()); err != nil {
			return err
		}
	}
	eval := compiled.Evaluate(new(rules.Machine), rules.NewEnv(ev), rules.Explained)
	out := dryRunResponse{Matched: eval.Matched, Actions: []dryRunAction{}}
	if eval.Err != nil {
		msg := eval.Err.Error()
		out.Error = &msg
	}
	if eval.Matched {
		tenant, err := db.GetTenant(ctx, key.TenantID)
		if err != nil {
			return err
		}
		for _, r := range eval.Actions {
			out.Actions = append(out.Actions, renderDryRun(r, tenant, ev.Ticket))
		}
	}
	out.Explanation = explanationViewOf(eval.Explanation)
	return c.JSON(out)
}

func renderDryRun(r rules.Rendered, tenant *domain.Tenant, t domain.Ticket) dryRunAction {
	v := dryRunAction{Type: r.Spec.Type}
	if r.Err != nil {
		v.Error = r.Err.Error()
		return v
	}
	switch r.Spec.Type {
	case domain.AutomationCustomHTTP:
		call, err := r.HTTP.Validate(tenant.ActionSettings())
		if err != nil {
			v.Error = err.Error()
			return v
		}
		// The request every attempt sends, built by the code that sends it; the headers
		// that depend on the attempt are listed by name.
		req, err := actions.NewRequest(context.Background(), call)
		if err != nil {
			v.Error = err.Error()
			return v
		}
		headers := make(map[string]string, len(req.Header))
		for k := range req.Header {
			headers[k] = req.Header.Get(k)
		}
		v.Request = &dryRunRequestV{Method: req.Method, URL: call.URL, Headers: headers, Body: call.BodyJSON,
			TimeoutMS: call.TimeoutMS, MaxAttempts: call.MaxAttempts, ThreadaHeaders: actions.AttemptHeaders}
	case domain.AutomationSetFields:
		v.Status, v.Priority, v.AddTags, v.RemoveTags = r.Spec.Status, r.Spec.Priority, r.Spec.AddTags, r.Spec.RemoveTags
		v.TagsAfter = domain.TicketUpdate{AddTags: r.Spec.AddTags, RemoveTags: r.Spec.RemoveTags}.Apply(t).Tags
	case domain.AutomationAddNote:
		v.Content = r.Content
	}
	return v
}

// dryRunEvent builds the event a dry run evaluates: the ticket (stored or described), the
// state before it made of the changes' from values, and the event's type and actor.
func (s *server) dryRunEvent(c *fiber.Ctx, db *store.Conn, req *dryRunRequest) (*domain.TicketEvent, error) {
	key := keyOf(c)
	ev := &domain.TicketEvent{ID: "evt_dry_run", TenantID: key.TenantID, Type: domain.EventTicketUpdated,
		Origin: domain.Origin{Actor: "api_key:" + key.ID}, OccurredAt: nowUTC(), Changes: map[string]domain.FieldChange{}}
	if e := req.Event; e != nil {
		if e.Type != "" {
			if err := domain.CheckEnum("event.type", e.Type, domain.EventTypes); err != nil {
				return nil, err
			}
			ev.Type = e.Type
		}
		if e.Actor != "" {
			ev.Origin.Actor = e.Actor
		}
	}
	if req.TicketID != nil {
		id := *req.TicketID
		if !domain.ValidID(domain.PrefixTicket, id) {
			return nil, domain.Errorf(domain.ENOTFOUND, "No ticket %q exists.", id)
		}
		d, err := db.GetTicket(c.UserContext(), key.TenantID, id, 1)
		if err != nil {
			return nil, err
		}
		ev.Ticket = d.Ticket
	} else {
		t := req.Ticket
		in := domain.TicketCreate{Subject: t.Subject, Status: t.Status, Priority: t.Priority, Channel: t.Channel, Tags: t.Tags, Contact: t.Contact.toDomain()}
		if in.Subject == "" {
			in.Subject = "(no subject)"
		}
		if err := in.Normalize(); err != nil {
			return nil, prefixParam("ticket.", err)
		}
		if t.MessageCount < 0 {
			return nil, domain.Invalidf("ticket.message_count", "`ticket.message_count` must be 0 or more.")
		}
		ev.Ticket = domain.Ticket{ID: t.TicketID, TenantID: key.TenantID, Subject: in.Subject, Status: in.Status, Priority: in.Priority,
			Channel: in.Channel, Tags: in.Tags, Contact: in.Contact, MessageCount: t.MessageCount,
			CreatedAt: ev.OccurredAt, UpdatedAt: ev.OccurredAt, LastMessageAt: ev.OccurredAt}
		if ev.Ticket.ID == "" {
			ev.Ticket.ID = "tkt_dry_run"
		}
	}
	prev := ev.Ticket
	for field, ch := range req.Changes {
		if err := domain.CheckEnum("changes", field, []string{"subject", "status", "priority", "tags", "contact"}); err != nil {
			return nil, err
		}
		ev.Changes[field] = ch
		setField(&prev, field, ch.From)
	}
	if ev.Type == domain.EventTicketCreated {
		ev.Changes = domain.Diff(nil, &ev.Ticket)
	} else {
		ev.Previous = &prev
	}
	if m := req.Message; m != nil {
		ev.Message = &domain.Message{ID: "msg_dry_run", TicketID: ev.Ticket.ID, Role: m.Role, Content: m.Content,
			Channel: m.Channel, ExternalMessageID: m.ExternalMessageID, CreatedAt: ev.OccurredAt}
	}
	return ev, nil
}

// setField sets a ticket field from a change's JSON value.
func setField(t *domain.Ticket, field string, v any) {
	str, _ := v.(string)
	switch field {
	case "subject":
		t.Subject = str
	case "status":
		t.Status = str
	case "priority":
		t.Priority = str
	case "tags":
		t.Tags = []string{}
		if list, ok := v.([]any); ok {
			for _, x := range list {
				if s, ok := x.(string); ok {
					t.Tags = append(t.Tags, s)
				}
			}
		}
	case "contact":
		t.Contact = nil
		if m, ok := v.(map[string]any); ok {
			get := func(k string) string { s, _ := m[k].(string); return s }
			t.Contact = &domain.Contact{Name: get("name"), Email: get("email"), Phone: get("phone")}
		}
	}
}

// prefixParam renames an input error's parameter into a nested object's path.
func prefixParam(prefix string, err error) error {
	if de, ok := err.(*domain.Error); ok && de.Param != "" {
		return &domain.Error{Code: de.Code, Message: de.Message, Param: prefix + de.Param}
	}
	return err
}
