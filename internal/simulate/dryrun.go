package simulate

import (
	"context"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/rules"
	"github.com/threada/threada/internal/store"
)

// DryRunInput is what a dry run evaluates: a rule (a draft, or a saved automation with its
// own actions) against an event on a ticket (stored, or described).
type DryRunInput struct {
	// Exactly one of Condition (with Actions, a draft) and AutomationID.
	Condition    *string
	Actions      *[]domain.AutomationAction
	AutomationID *string
	// Exactly one of TicketID and Ticket.
	TicketID *string
	Ticket   *TicketSnapshot
	// Changes make the ticket's previous state of their from values.
	Changes map[string]domain.FieldChange
	// EventType is ticket.updated when empty; Actor the caller's when empty.
	EventType string
	Actor     string
	Message   *domain.MessageCreate
	// At is when the event happens.
	At time.Time
}

// TicketSnapshot is a ticket as a dry run may describe it.
type TicketSnapshot struct {
	TicketID     string
	Subject      string
	Status       string
	Priority     string
	Channel      string
	Tags         []string
	MessageCount int
	Contact      *domain.Contact
}

// DryRunResult is what the rule would do: whether it matches, a match's actions as they
// would run, the condition's error, and why it matched or not.
type DryRunResult struct {
	Matched     bool
	Actions     []Action // never nil
	Err         error
	Explanation *domain.Explanation
}

// DryRun evaluates a rule for the tenant against an event as the engine would, and
// renders what it would do, with no side effect at all. caller is the actor of the
// event when the input names none ("api_key:<id>"). Errors: EINVALID for the input,
// ENOTFOUND for an automation or ticket the tenant does not have.
func DryRun(ctx context.Context, db *store.Conn, tenantID, caller string, in DryRunInput) (*DryRunResult, error) {
	if (in.Condition == nil) == (in.AutomationID == nil) {
		return nil, domain.Invalidf("condition", "Give exactly one of `condition` and `automation_id`.")
	}
	if (in.TicketID == nil) == (in.Ticket == nil) {
		return nil, domain.Invalidf("ticket_id", "Give exactly one of `ticket_id` and `ticket`.")
	}
	ev, err := in.event(tenantID, caller, func(id string) (*domain.Ticket, error) {
		d, err := db.GetTicket(ctx, tenantID, id, 1)
		if err != nil {
			return nil, err
		}
		return &d.Ticket, nil
	})
	if err != nil {
		return nil, err
	}
	r, err := in.rule(ctx, db, tenantID)
	if err != nil {
		return nil, err
	}
	compiled, err := rules.Compile(r)
	if err != nil {
		return nil, err
	}
	tenant, err := db.GetTenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return dryRun(compiled, ev, tenant), nil
}

// dryRun evaluates a compiled rule against the event for the tenant.
func dryRun(compiled *rules.Compiled, ev *domain.TicketEvent, tenant *domain.Tenant) *DryRunResult {
	eval := compiled.Evaluate(new(rules.Machine), rules.NewEnv(ev), rules.Explained)
	return &DryRunResult{Matched: eval.Matched, Actions: actionsOf(eval.Actions, tenant, ev.Ticket), Err: eval.Err, Explanation: eval.Explanation}
}

// rule is the rule a dry run evaluates: the draft, or the saved automation's.
func (in *DryRunInput) rule(ctx context.Context, db *store.Conn, tenantID string) (domain.Rule, error) {
	if in.Condition != nil {
		// Checked as an automation's are when saved (blank, over 2,000 characters), so the
		// draft a dry run accepts is one that could be saved.
		ai := domain.AutomationInput{Condition: in.Condition, Actions: in.Actions}
		if err := ai.CheckStatic(false); err != nil {
			return domain.Rule{}, err
		}
		draft := domain.Rule{Condition: *in.Condition}
		if in.Actions != nil {
			draft.Actions = *ai.Actions
		}
		return draft, nil
	}
	if in.Actions != nil {
		return domain.Rule{}, domain.Invalidf("actions", "`actions` goes with `condition` (a draft); a saved automation is tested with its own.")
	}
	if !domain.ValidID(domain.PrefixAutomation, *in.AutomationID) {
		// A field of the body, so its shape is checked as a field's: 400 (a path id of
		// another shape is a 404, as the resource it would name does not exist).
		return domain.Rule{}, domain.Invalidf("automation_id", "`automation_id` is not an automation id (aut_...).")
	}
	a, err := db.GetAutomation(ctx, tenantID, *in.AutomationID)
	if err != nil {
		return domain.Rule{}, err
	}
	return a.Rule(), nil
}

// event builds the event a dry run evaluates: the ticket (stored, read with load, or
// described), the state before it made of the changes' from values, and the event's type
// and actor.
func (in *DryRunInput) event(tenantID, caller string, load func(ticketID string) (*domain.Ticket, error)) (*domain.TicketEvent, error) {
	ev := &domain.TicketEvent{ID: "evt_dry_run", TenantID: tenantID, Type: domain.EventTicketUpdated,
		Origin: domain.Origin{Actor: caller}, OccurredAt: in.At, Changes: map[string]domain.FieldChange{}}
	if in.EventType != "" {
		if err := domain.CheckEnum("event.type", in.EventType, domain.EventTypes); err != nil {
			return nil, err
		}
		ev.Type = in.EventType
	}
	if in.Actor != "" {
		ev.Origin.Actor = in.Actor
	}
	if in.TicketID != nil {
		id := *in.TicketID
		if !domain.ValidID(domain.PrefixTicket, id) {
			return nil, domain.Invalidf("ticket_id", "`ticket_id` is not a ticket id (tkt_...).")
		}
		t, err := load(id)
		if err != nil {
			return nil, err
		}
		ev.Ticket = *t
	} else {
		t, err := in.Ticket.ticket(tenantID, in.At)
		if err != nil {
			return nil, err
		}
		ev.Ticket = t
	}
	prev := ev.Ticket
	for field, ch := range in.Changes {
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
	if m := in.Message; m != nil {
		// Checked and completed as a message added to the ticket would be.
		if err := m.Normalize(); err != nil {
			return nil, prefixParam("message.", err)
		}
		if m.Channel == "" {
			m.Channel = ev.Ticket.Channel
		}
		ev.Message = &domain.Message{ID: "msg_dry_run", TicketID: ev.Ticket.ID, Role: m.Role, Content: m.Content,
			Channel: m.Channel, ExternalMessageID: m.ExternalMessageID, CreatedAt: in.At}
	}
	return ev, nil
}

// ticket is the described ticket, checked as a new ticket is, created at.
func (t *TicketSnapshot) ticket(tenantID string, at time.Time) (domain.Ticket, error) {
	in := domain.TicketCreate{Subject: t.Subject, Status: t.Status, Priority: t.Priority, Channel: t.Channel, Tags: t.Tags, Contact: t.Contact}
	if in.Subject == "" {
		in.Subject = "(no subject)"
	}
	if err := in.Normalize(); err != nil {
		return domain.Ticket{}, prefixParam("ticket.", err)
	}
	if t.MessageCount < 0 {
		return domain.Ticket{}, domain.Invalidf("ticket.message_count", "`ticket.message_count` must be 0 or more.")
	}
	out := domain.Ticket{ID: t.TicketID, TenantID: tenantID, Subject: in.Subject, Status: in.Status, Priority: in.Priority,
		Channel: in.Channel, Tags: in.Tags, Contact: in.Contact, MessageCount: t.MessageCount,
		CreatedAt: at, UpdatedAt: at, LastMessageAt: at}
	if out.ID == "" {
		out.ID = "tkt_dry_run"
	}
	return out, nil
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
