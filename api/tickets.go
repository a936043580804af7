package main

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// detailMessages is how many of its latest messages a ticket carries in create and get
// responses; the messages endpoint pages through all of them.
const detailMessages = 100

func nowUTC() time.Time { return time.Now().UTC().Truncate(time.Second) }

// timestamp renders as RFC 3339 in UTC with a Z, to the second, as in the reference.
type timestamp time.Time

func (t timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(time.RFC3339) + `"`), nil
}

type contactView struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

type ticketSummary struct {
	TicketID      string    `json:"ticket_id"`
	TenantID      string    `json:"tenant_id"`
	Subject       string    `json:"subject"`
	Status        string    `json:"status"`
	Priority      string    `json:"priority"`
	Channel       string    `json:"channel"`
	Tags          []string  `json:"tags"`
	LastMessageAt timestamp `json:"last_message_at"`
	CreatedAt     timestamp `json:"created_at"`
	UpdatedAt     timestamp `json:"updated_at"`
	MessageCount  int       `json:"message_count"`
}

type ticketView struct {
	Summary         ticketSummary `json:"summary"`
	Contact         *contactView  `json:"contact"`
	Messages        []messageView `json:"messages"`
	HasMoreMessages bool          `json:"has_more_messages"`
	SLA             *slaView      `json:"sla"`
}

// slaView is a ticket's SLA: the policy that applies and each metric's clock (null when
// the policy sets no target for the ticket's priority).
type slaView struct {
	PolicyID   string     `json:"policy_id"`
	FirstReply *clockView `json:"first_reply"`
	Resolution *clockView `json:"resolution"`
}

type clockView struct {
	DueAt      *timestamp `json:"due_at"` // null while paused or stopped
	Breached   bool       `json:"breached"`
	BreachedAt *timestamp `json:"breached_at"`
	AchievedAt *timestamp `json:"achieved_at"`
	Paused     bool       `json:"paused"`
}

func slaViewOf(t *domain.TicketSLA) *slaView {
	if t == nil {
		return nil
	}
	clock := func(c *domain.SLAClock) *clockView {
		if c == nil {
			return nil
		}
		return &clockView{DueAt: tsPtr(c.DueAt), Breached: c.Breached, BreachedAt: tsPtr(c.BreachedAt), AchievedAt: tsPtr(c.AchievedAt),
			Paused: c.RunningSince == nil && c.AchievedAt == nil}
	}
	return &slaView{PolicyID: t.PolicyID, FirstReply: clock(t.Clocks[domain.SLAFirstReply]), Resolution: clock(t.Clocks[domain.SLAResolution])}
}

func tsPtr(t *time.Time) *timestamp {
	if t == nil {
		return nil
	}
	ts := timestamp(*t)
	return &ts
}

// ticketSLA reads a ticket's SLA, kept by the worker with each of the ticket's events.
func ticketSLA(c *fiber.Ctx, db *store.Conn, tenantID, ticketID string) (*slaView, error) {
	slas, err := db.TicketSLAs(c.UserContext(), tenantID, []string{ticketID})
	if err != nil {
		return nil, err
	}
	return slaViewOf(slas[ticketID]), nil
}

type ticketEnvelope struct {
	Ticket ticketView `json:"ticket"`
}

func summaryOf(t *domain.Ticket) ticketSummary {
	return ticketSummary{
		TicketID: t.ID, TenantID: t.TenantID, Subject: t.Subject, Status: t.Status,
		Priority: t.Priority, Channel: t.Channel, Tags: t.Tags,
		LastMessageAt: timestamp(t.LastMessageAt), CreatedAt: timestamp(t.CreatedAt),
		UpdatedAt: timestamp(t.UpdatedAt), MessageCount: t.MessageCount,
	}
}

func ticketViewOf(t *domain.Ticket, msgs []domain.Message) ticketEnvelope {
	v := ticketView{Summary: summaryOf(t), Messages: make([]messageView, len(msgs))}
	if t.Contact != nil {
		v.Contact = &contactView{Name: t.Contact.Name, Email: t.Contact.Email, Phone: t.Contact.Phone}
	}
	for i := range msgs {
		v.Messages[i] = messageViewOf(&msgs[i])
	}
	v.HasMoreMessages = t.MessageCount > len(msgs)
	return ticketEnvelope{Ticket: v}
}

type contactInput struct {
	Name  string   `json:"name"`
	Email nonBlank `json:"email"` // "" is no address (the document's format: email refuses it)
	Phone string   `json:"phone"`
}

func (c *contactInput) toDomain() *domain.Contact {
	if c == nil {
		return nil
	}
	return &domain.Contact{Name: c.Name, Email: string(c.Email), Phone: c.Phone}
}

type createTicketRequest struct {
	Subject        string                `json:"subject"`
	Status         nonBlank              `json:"status"`
	Priority       nonBlank              `json:"priority"`
	Channel        nonBlank              `json:"channel"`
	Tags           []string              `json:"tags"`
	Contact        *contactInput         `json:"contact"`
	InitialMessage *createMessageRequest `json:"initial_message"`
}

// createTicket handles POST /tickets.
func (s *server) createTicket(c *fiber.Ctx, db *store.Conn) error {
	var req createTicketRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	in := domain.TicketCreate{
		Subject: req.Subject, Status: string(req.Status), Priority: string(req.Priority), Channel: string(req.Channel),
		Tags: req.Tags, Contact: req.Contact.toDomain(),
	}
	if m := req.InitialMessage; m != nil {
		in.InitialMessage = m.toDomain()
	}
	if err := in.Normalize(); err != nil {
		return err
	}
	d, err := db.CreateTicket(c.UserContext(), keyOf(c).TenantID, in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(ticketViewOf(&d.Ticket, d.Messages))
}

// getTicket handles GET /tickets/{ticket_id}.
func (s *server) getTicket(c *fiber.Ctx) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	id, err := ticketIDParam(c)
	if err != nil {
		return err
	}
	d, err := s.store.GetTicket(c.UserContext(), keyOf(c).TenantID, id, detailMessages)
	if err != nil {
		return err
	}
	out := ticketViewOf(&d.Ticket, d.Messages)
	if out.Ticket.SLA, err = ticketSLA(c, &s.store.Conn, d.Ticket.TenantID, id); err != nil {
		return err
	}
	return c.JSON(out)
}

// updateTicketRequest: a field left out keeps its value; null is refused (decodeStrict)
// except for contact, kept raw so that `contact: null` removes the contact.
type updateTicketRequest struct {
	Subject  *string         `json:"subject"`
	Status   *string         `json:"status"`
	Priority *string         `json:"priority"`
	Tags     *[]string       `json:"tags"`
	Contact  json.RawMessage `json:"contact"`
}

var jsonNull = []byte("null")

// updateTicket handles PATCH /tickets/{ticket_id}: fields present are set, `contact: null`
// removes the contact, other fields cannot be null.
func (s *server) updateTicket(c *fiber.Ctx, db *store.Conn) error {
	id, err := ticketIDParam(c)
	if err != nil {
		return err
	}
	var req updateTicketRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	u := domain.TicketUpdate{Subject: req.Subject, Status: req.Status, Priority: req.Priority, Tags: req.Tags}
	if req.Contact != nil {
		var ci contactInput
		if !bytes.Equal(req.Contact, jsonNull) {
			if err := decodeStrict("contact", req.Contact, &ci); err != nil {
				return err
			}
		}
		u.Contact = ci.toDomain()
	}
	if err := u.Normalize(); err != nil {
		return err
	}
	tenant := keyOf(c).TenantID
	t, err := db.UpdateTicket(c.UserContext(), tenant, id, u)
	if err != nil {
		return err
	}
	msgs, err := db.LatestMessages(c.UserContext(), tenant, id, detailMessages)
	if err != nil {
		return err
	}
	out := ticketViewOf(t, msgs)
	if out.Ticket.SLA, err = ticketSLA(c, db, tenant, id); err != nil {
		return err
	}
	return c.JSON(out)
}

// listTickets handles GET /tickets.
func (s *server) listTickets(c *fiber.Ctx) error {
	f := domain.TicketFilter{Status: c.Query("status"), Priority: c.Query("priority"), Channel: c.Query("channel"), Tag: c.Query("tag")}
	l, err := parseListing(c, "tickets", scopeOf(f.Status, f.Priority, f.Channel, f.Tag), "status", "priority", "channel", "tag")
	if err != nil {
		return err
	}
	for _, check := range []struct {
		param, value string
		allowed      []string
	}{{"status", f.Status, domain.Statuses}, {"priority", f.Priority, domain.Priorities}, {"channel", f.Channel, domain.Channels}} {
		if check.value != "" {
			if err := domain.CheckEnum(check.param, check.value, check.allowed); err != nil {
				return err
			}
		}
	}
	if f.Tag != "" {
		tag, err := domain.NormalizeTag("tag", f.Tag)
		if err != nil {
			return err
		}
		f.Tag = tag
	}
	var after *domain.TicketCursor
	if l.after != nil {
		after = &domain.TicketCursor{LastMessageAt: l.after.time(), ID: l.after.ID}
	}
	tickets, more, err := s.store.ListTickets(c.UserContext(), keyOf(c).TenantID, f, after, l.limit)
	if err != nil {
		return err
	}
	return c.JSON(pageFor(l, tickets, more, summaryOf, func(t *domain.Ticket) (time.Time, string) { return t.LastMessageAt, t.ID }))
}

// ticketIDParam reads {ticket_id}; a malformed id cannot exist, so it is a 404 like any
// other unknown ticket.
func ticketIDParam(c *fiber.Ctx) (string, error) {
	id := c.Params("ticket_id")
	if !domain.ValidID(domain.PrefixTicket, id) {
		return "", domain.Errorf(domain.ENOTFOUND, "No ticket %q exists.", id)
	}
	return id, nil
}

type ticketDeleted struct {
	TicketID string         `json:"ticket_id"`
	Deleted  bool           `json:"deleted"`
	Removed  ticketRemovals `json:"removed"`
}

type ticketRemovals struct {
	Messages  int `json:"messages"`
	Actions   int `json:"actions"`
	Attempts  int `json:"attempts"`
	Events    int `json:"events"`
	Runs      int `json:"runs"`
	Timers    int `json:"timers"`
	SLAClocks int `json:"sla_clocks"`
}

// deleteTicket handles DELETE /tickets/{ticket_id}: the ticket and every row about it go in
// one transaction with an audit row that keeps the counts, not the content. After the
// commit its running actions' workflows are canceled and its timers' disarmed; both are
// best effort, since a run that misses it finds its rows gone at its next step and ends.
func (s *server) deleteTicket(c *fiber.Ctx, db *store.Conn) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	id, err := ticketIDParam(c)
	if err != nil {
		return err
	}
	var out ticketDeleted
	err = s.txn(c, db, func(ctx context.Context, tx *store.Conn) error {
		d, err := tx.DeleteTicket(ctx, keyOf(c).TenantID, id)
		if err != nil {
			return err
		}
		out = ticketDeleted{TicketID: id, Deleted: true, Removed: ticketRemovals{Messages: d.Messages, Actions: d.Actions,
			Attempts: d.Attempts, Events: d.Events, Runs: d.Runs, Timers: d.Timers, SLAClocks: d.Clocks}}
		tx.AfterCommit(ctx, func(ctx context.Context) { s.forgetRuns(ctx, d) })
		return s.audit(c, tx, "ticket.delete", id, nil, out.Removed)
	})
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// forgetRuns tells Temporal what a deletion removed: cancel the running actions, disarm
// the timers.
func (s *server) forgetRuns(ctx context.Context, d *store.DeletedTicket) {
	ctx = context.WithoutCancel(ctx)
	if s.actions != nil {
		for _, id := range d.Running {
			if err := s.actions.Cancel(ctx, &domain.Action{ID: id}); err != nil {
				s.log.Warn("canceling a deleted ticket's action; its run ends at its next attempt", "action_id", id, "err", err)
			}
		}
	}
	if s.timers != nil {
		for _, id := range d.TimerIDs {
			s.timers.Disarm(ctx, id, d.Generation)
		}
	}
}
