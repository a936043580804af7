package domain

import (
	"slices"
	"time"
)

// Ticket statuses.
const (
	StatusOpen    = "open"
	StatusPending = "pending"
	StatusOnHold  = "on_hold"
	StatusSolved  = "solved"
	StatusClosed  = "closed"
)

// Ticket priorities.
const (
	PriorityLow    = "low"
	PriorityNormal = "normal"
	PriorityHigh   = "high"
	PriorityUrgent = "urgent"
)

// Channels a ticket or message can come through.
const (
	ChannelEmail    = "email"
	ChannelChat     = "chat"
	ChannelSMS      = "sms"
	ChannelWhatsApp = "whatsapp"
	ChannelVoice    = "voice"
	ChannelWeb      = "web"
	ChannelAPI      = "api"
	ChannelSocial   = "social"
)

// Message roles.
const (
	RoleUser   = "user"
	RoleAgent  = "agent"
	RoleSystem = "system"
	RoleNote   = "note"
)

// Enumerations, in the order the API documents them.
var (
	Statuses   = []string{StatusOpen, StatusPending, StatusOnHold, StatusSolved, StatusClosed}
	Priorities = []string{PriorityLow, PriorityNormal, PriorityHigh, PriorityUrgent}
	Channels   = []string{ChannelEmail, ChannelChat, ChannelSMS, ChannelWhatsApp, ChannelVoice, ChannelWeb, ChannelAPI, ChannelSocial}
	Roles      = []string{RoleUser, RoleAgent, RoleSystem, RoleNote}
)

// Ticket is a support conversation with one contact, over one or more channels.
type Ticket struct {
	ID            string
	TenantID      string
	Subject       string
	Status        string
	Priority      string
	Channel       string
	Tags          []string
	Contact       *Contact // nil when the ticket has no contact
	MessageCount  int
	CreatedAt     time.Time
	UpdatedAt     time.Time
	LastMessageAt time.Time // the creation time until a message arrives
}

// Contact is the customer a ticket is about. Every field is optional.
type Contact struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Phone string `json:"phone"`
}

// Empty reports whether c carries no information.
func (c Contact) Empty() bool { return c == Contact{} }

// Message is one entry in a ticket's conversation.
type Message struct {
	ID                string
	TenantID          string
	TicketID          string
	Role              string
	Content           string
	Channel           string
	ExternalMessageID string // "" when the client gave none
	CreatedAt         time.Time
}

// TicketCreate is the input for a new ticket. Zero values mean "use the default".
type TicketCreate struct {
	Subject        string
	Status         string
	Priority       string
	Channel        string
	Tags           []string
	Contact        *Contact
	InitialMessage *MessageCreate
}

// TicketUpdate is a partial update: nil fields are left as they are.
// A Contact pointing at an empty Contact removes the ticket's contact. AddTags and
// RemoveTags apply after Tags, to the ticket's tags as they are when the update runs.
type TicketUpdate struct {
	Subject    *string
	Status     *string
	Priority   *string
	Tags       *[]string
	AddTags    []string
	RemoveTags []string
	Contact    *Contact
}

// Apply returns t with u applied.
func (u TicketUpdate) Apply(t Ticket) Ticket {
	if u.Subject != nil {
		t.Subject = *u.Subject
	}
	if u.Status != nil {
		t.Status = *u.Status
	}
	if u.Priority != nil {
		t.Priority = *u.Priority
	}
	if u.Tags != nil {
		t.Tags = slices.Clone(*u.Tags)
	}
	if len(u.AddTags) > 0 || len(u.RemoveTags) > 0 {
		tags := slices.Clone(t.Tags)
		for _, tag := range u.AddTags {
			if !slices.Contains(tags, tag) {
				tags = append(tags, tag)
			}
		}
		tags = slices.DeleteFunc(tags, func(tag string) bool { return slices.Contains(u.RemoveTags, tag) })
		t.Tags = tags
	}
	if u.Contact != nil {
		t.Contact = nil
		if !u.Contact.Empty() {
			c := *u.Contact
			t.Contact = &c
		}
	}
	if t.Tags == nil {
		t.Tags = []string{}
	}
	return t
}

// Diff returns the fields automations see changing between before and after (nil before:
// every field, from nil).
func Diff(before *Ticket, after *Ticket) map[string]FieldChange {
	out := map[string]FieldChange{}
	var b Ticket
	if before != nil {
		b = *before
	}
	add := func(field string, from, to any, same bool) {
		if before == nil {
			out[field] = FieldChange{From: nil, To: to}
		} else if !same {
			out[field] = FieldChange{From: from, To: to}
		}
	}
	add("subject", b.Subject, after.Subject, b.Subject == after.Subject)
	add("status", b.Status, after.Status, b.Status == after.Status)
	add("priority", b.Priority, after.Priority, b.Priority == after.Priority)
	add("tags", b.Tags, after.Tags, slices.Equal(b.Tags, after.Tags))
	add("contact", contactValue(b.Contact), contactValue(after.Contact), contactValue(b.Contact) == contactValue(after.Contact))
	return out
}

// contactValue is a contact as a comparable value, nil when there is none.
func contactValue(c *Contact) any {
	if c == nil || c.Empty() {
		return nil
	}
	return *c
}

// MessageCreate is the input for a new message. Channel defaults to the ticket's channel,
// Role to "user".
type MessageCreate struct {
	Role              string
	Content           string
	Channel           string
	ExternalMessageID string
}

// TicketFilter narrows a ticket listing. Empty fields do not filter.
type TicketFilter struct {
	Status   string
	Priority string
	Channel  string
	Tag      string
}

// TicketCursor is a position in the ticket listing order (last_message_at desc, id desc).
type TicketCursor struct {
	LastMessageAt time.Time
	ID            string
}

// MessageCursor is a position in the message listing order (created_at asc, id asc).
type MessageCursor struct {
	CreatedAt time.Time
	ID        string
}

// TicketDetail is a ticket with its most recent messages, oldest first.
type TicketDetail struct {
	Ticket   Ticket
	Messages []Message
}
