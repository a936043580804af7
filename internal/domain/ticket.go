package domain

import (
	"context"
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
	Name  string
	Email string
	Phone string
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
// A Contact pointing at an empty Contact removes the ticket's contact.
type TicketUpdate struct {
	Subject  *string
	Status   *string
	Priority *string
	Tags     *[]string
	Contact  *Contact
}

// Empty reports whether u changes nothing.
func (u TicketUpdate) Empty() bool {
	return u.Subject == nil && u.Status == nil && u.Priority == nil && u.Tags == nil && u.Contact == nil
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

// TicketStore keeps tickets and their messages, always within one tenant.
type TicketStore interface {
	// CreateTicket stores a validated ticket and its initial message, if any.
	CreateTicket(ctx context.Context, tenantID string, in TicketCreate) (*TicketDetail, error)
	// GetTicket returns the ticket with up to limit of its latest messages. ENOTFOUND.
	GetTicket(ctx context.Context, tenantID, ticketID string, limit int) (*TicketDetail, error)
	// UpdateTicket applies a validated partial update. ENOTFOUND.
	UpdateTicket(ctx context.Context, tenantID, ticketID string, u TicketUpdate) (*Ticket, error)
	// ListTickets returns up to limit tickets after the cursor, and whether more follow.
	ListTickets(ctx context.Context, tenantID string, f TicketFilter, after *TicketCursor, limit int) ([]Ticket, bool, error)
	// AddMessage adds a validated message. With an ExternalMessageID already on the ticket it
	// returns that first message and created=false. ENOTFOUND.
	AddMessage(ctx context.Context, tenantID, ticketID string, in MessageCreate) (msg *Message, created bool, err error)
	// ListMessages returns up to limit messages after the cursor, oldest first. ENOTFOUND.
	ListMessages(ctx context.Context, tenantID, ticketID string, after *MessageCursor, limit int) ([]Message, bool, error)
}
