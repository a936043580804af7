// Package rules compiles and evaluates automation conditions and templates with expr
// (github.com/expr-lang/expr) against a typed environment built from a ticket event.
//
// The environment, as conditions see it:
//
//	ticket      the ticket after the change: ticket_id, tenant_id, subject, status, priority,
//	            channel, tags, message_count, created_at, updated_at, last_message_at,
//	            contact {name, email, phone} (empty strings when unknown)
//	previous    the ticket before the change, same fields; nil on ticket.created (use
//	            previous?.status)
//	changes     field -> {from, to} for subject, status, priority, tags, contact; on
//	            ticket.created every field, with from = nil
//	event       type, actor ("api_key:<id>", "automation:<id>"), occurred_at, depth
//	message     message_id, role, content, channel, external_message_id, created_at on
//	            message.created (and the initial message on ticket.created), else nil
//	sla         policy_id, metric (first_reply, resolution), due_at on sla.warning and
//	            sla.breached, else nil
//
// When a delay automation's timer fires, ticket is the ticket as it is then, and event,
// previous, changes and message are those of the event that armed the timer.
//
//	changed(f)          whether field f changed
//	changed_to(f, v)    whether field f changed and is now v
//	changed_from(f, v)  whether field f changed and was v
//	has_tag(t)          whether the ticket carries tag t
package rules

import (
	"reflect"
	"slices"
	"time"

	"github.com/threada/threada/internal/domain"
)

// Ticket is a ticket as conditions see it.
type Ticket struct {
	TicketID      string    `expr:"ticket_id" json:"ticket_id"`
	TenantID      string    `expr:"tenant_id" json:"tenant_id"`
	Subject       string    `expr:"subject" json:"subject"`
	Status        string    `expr:"status" json:"status"`
	Priority      string    `expr:"priority" json:"priority"`
	Channel       string    `expr:"channel" json:"channel"`
	Tags          []string  `expr:"tags" json:"tags"`
	MessageCount  int       `expr:"message_count" json:"message_count"`
	CreatedAt     time.Time `expr:"created_at" json:"created_at"`
	UpdatedAt     time.Time `expr:"updated_at" json:"updated_at"`
	LastMessageAt time.Time `expr:"last_message_at" json:"last_message_at"`
	Contact       Contact   `expr:"contact" json:"contact"`
}

// Contact is a ticket's contact; empty strings when unknown.
type Contact struct {
	Name  string `expr:"name" json:"name"`
	Email string `expr:"email" json:"email"`
	Phone string `expr:"phone" json:"phone"`
}

// Change is one field's value before and after.
type Change struct {
	From any `expr:"from" json:"from"`
	To   any `expr:"to" json:"to"`
}

// Event describes the change itself.
type Event struct {
	Type       string    `expr:"type" json:"type"`
	Actor      string    `expr:"actor" json:"actor"`
	OccurredAt time.Time `expr:"occurred_at" json:"occurred_at"`
	Depth      int       `expr:"depth" json:"depth"`
}

// Message is the message of a message.created event.
type Message struct {
	MessageID         string    `expr:"message_id" json:"message_id"`
	Role              string    `expr:"role" json:"role"`
	Content           string    `expr:"content" json:"content"`
	Channel           string    `expr:"channel" json:"channel"`
	ExternalMessageID string    `expr:"external_message_id" json:"external_message_id"`
	CreatedAt         time.Time `expr:"created_at" json:"created_at"`
}

// SLA is the clock of an sla.warning or sla.breached event.
type SLA struct {
	PolicyID string    `expr:"policy_id" json:"policy_id"`
	Metric   string    `expr:"metric" json:"metric"` // first_reply or resolution
	DueAt    time.Time `expr:"due_at" json:"due_at"`
}

// Env is everything a condition or template can read.
type Env struct {
	Ticket      Ticket                         `expr:"ticket"`
	Previous    *Ticket                        `expr:"previous"`
	Changes     map[string]Change              `expr:"changes"`
	Event       Event                          `expr:"event"`
	Message     *Message                       `expr:"message"`
	SLA         *SLA                           `expr:"sla"`
	Changed     func(field string) bool        `expr:"changed"`
	ChangedTo   func(field string, v any) bool `expr:"changed_to"`
	ChangedFrom func(field string, v any) bool `expr:"changed_from"`
	HasTag      func(tag string) bool          `expr:"has_tag"`
	Builtins

	budget *budget
}

// TicketOf converts a domain ticket.
func TicketOf(t *domain.Ticket) Ticket {
	out := Ticket{
		TicketID: t.ID, TenantID: t.TenantID, Subject: t.Subject, Status: t.Status, Priority: t.Priority,
		Channel: t.Channel, Tags: t.Tags, MessageCount: t.MessageCount,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, LastMessageAt: t.LastMessageAt,
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	if t.Contact != nil {
		out.Contact = Contact{Name: t.Contact.Name, Email: t.Contact.Email, Phone: t.Contact.Phone}
	}
	return out
}

// NewEnv builds the environment of an event.
func NewEnv(ev *domain.TicketEvent) *Env {
	env := &Env{
		Ticket:  TicketOf(&ev.Ticket),
		Changes: map[string]Change{},
		Event:   Event{Type: ev.Type, Actor: ev.Origin.Actor, OccurredAt: ev.OccurredAt, Depth: ev.Origin.Depth},
		budget:  &budget{},
	}
	if a := ev.Armed; a != nil { // a delay's timer fired: the event is the one that armed it
		env.Event = Event{Type: a.Type, Actor: a.Actor, OccurredAt: a.OccurredAt, Depth: a.Depth}
	}
	if m := ev.SLA; m != nil {
		env.SLA = &SLA{PolicyID: m.PolicyID, Metric: m.Metric, DueAt: m.DueAt}
	}
	env.budget.reset()
	env.Builtins = newBuiltins(env.budget)
	if ev.Previous != nil {
		p := TicketOf(ev.Previous)
		env.Previous = &p
	}
	for f, c := range ev.Changes {
		env.Changes[f] = Change{From: normalize(c.From), To: normalize(c.To)}
	}
	if m := ev.Message; m != nil {
		env.Message = &Message{MessageID: m.ID, Role: m.Role, Content: m.Content, Channel: m.Channel,
			ExternalMessageID: m.ExternalMessageID, CreatedAt: m.CreatedAt}
	}
	changes := env.Changes
	env.Changed = func(field string) bool { _, ok := changes[field]; return ok }
	env.ChangedTo = func(field string, v any) bool {
		c, ok := changes[field]
		return ok && equal(c.To, v)
	}
	env.ChangedFrom = func(field string, v any) bool {
		c, ok := changes[field]
		return ok && equal(c.From, v)
	}
	tags := env.Ticket.Tags
	env.HasTag = func(tag string) bool { return slices.Contains(tags, tag) }
	return env
}

// normalize turns the values stored in events (decoded from JSON) into what conditions
// compare against: strings, []string, or a Contact.
func normalize(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case map[string]any:
		str := func(k string) string { s, _ := x[k].(string); return s }
		return Contact{Name: str("name"), Email: str("email"), Phone: str("phone")}
	case domain.Contact:
		return Contact{Name: x.Name, Email: x.Email, Phone: x.Phone}
	case *domain.Contact:
		if x == nil {
			return nil
		}
		return Contact{Name: x.Name, Email: x.Email, Phone: x.Phone}
	}
	return v
}

func equal(a, b any) bool {
	if as, ok := a.(string); ok {
		bs, ok := b.(string)
		return ok && as == bs
	}
	return reflect.DeepEqual(a, b)
}
