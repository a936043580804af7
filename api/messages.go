package main

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

type messageView struct {
	MessageID         string    `json:"message_id"`
	TicketID          string    `json:"ticket_id"`
	Role              string    `json:"role"`
	Content           string    `json:"content"`
	Channel           string    `json:"channel"`
	ExternalMessageID string    `json:"external_message_id,omitempty"`
	CreatedAt         timestamp `json:"created_at"`
}

type messageEnvelope struct {
	Message messageView `json:"message"`
}

func messageViewOf(m *domain.Message) messageView {
	return messageView{
		MessageID: m.ID, TicketID: m.TicketID, Role: m.Role, Content: m.Content,
		Channel: m.Channel, ExternalMessageID: m.ExternalMessageID, CreatedAt: timestamp(m.CreatedAt),
	}
}

type createMessageRequest struct {
	Role              nonBlank `json:"role"`
	Content           string   `json:"content"`
	Channel           nonBlank `json:"channel"`
	ExternalMessageID nonBlank `json:"external_message_id"`
}

func (r *createMessageRequest) toDomain() *domain.MessageCreate {
	return &domain.MessageCreate{Role: string(r.Role), Content: r.Content, Channel: string(r.Channel), ExternalMessageID: string(r.ExternalMessageID)}
}

// addMessage handles POST /tickets/{ticket_id}/messages: 201 for a new message, 200 with
// the first message for a repeated external_message_id.
func (s *server) addMessage(c *fiber.Ctx, db *store.Conn) error {
	id, err := ticketIDParam(c)
	if err != nil {
		return err
	}
	var req createMessageRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	in := req.toDomain()
	if err := in.Normalize(); err != nil {
		return err
	}
	msg, created, err := db.AddMessage(c.UserContext(), keyOf(c).TenantID, id, *in)
	if err != nil {
		return err
	}
	status := fiber.StatusOK
	if created {
		status = fiber.StatusCreated
	}
	return c.Status(status).JSON(messageEnvelope{Message: messageViewOf(msg)})
}

// listMessages handles GET /tickets/{ticket_id}/messages, oldest first.
func (s *server) listMessages(c *fiber.Ctx) error {
	id, err := ticketIDParam(c)
	if err != nil {
		return err
	}
	l, err := parseListing(c, "messages", id)
	if err != nil {
		return err
	}
	var after *domain.MessageCursor
	if l.after != nil {
		after = &domain.MessageCursor{CreatedAt: l.after.time(), ID: l.after.ID}
	}
	msgs, more, err := s.store.ListMessages(c.UserContext(), keyOf(c).TenantID, id, after, l.limit)
	if err != nil {
		return err
	}
	return c.JSON(pageFor(l, msgs, more, messageViewOf, func(m *domain.Message) (time.Time, string) { return m.CreatedAt, m.ID }))
}
