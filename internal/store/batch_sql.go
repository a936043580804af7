package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/threada/threada/internal/domain"
)

// The outbox batch's writes as prepared statements (see prepared.go). A batch's rows go as
// one jsonb parameter that jsonb_to_recordset turns back into rows, so that a batch of any
// size runs the one statement, parsed once per connection. As text (a VALUES list of up to
// 100 rows, different every time), planning them took 1.4-2.6 ms a batch under the issue 21
// load, more than writing the rows. They read tables that grow, so they are planned for
// each batch (processBatch sets plan_cache_mode), which costs little at this shape.
var (
	lockTicketsSQL = newPrepared(`SELECT id, tenant_id, subject, status, priority, channel, tags, contact_name, contact_email, contact_phone, message_count, created_at, updated_at, last_message_at
	FROM tickets WHERE id = ANY ($1::text[]) ORDER BY id FOR UPDATE`)

	updateTicketsSQL = newPrepared(`UPDATE tickets t SET subject = v.subject, status = v.status, priority = v.priority, tags = v.tags,
		updated_at = v.updated_at, message_count = v.message_count, last_message_at = v.last_message_at
	FROM jsonb_to_recordset($1::jsonb) AS v (id text, subject text, status text, priority text, tags text[],
		updated_at timestamptz, message_count integer, last_message_at timestamptz)
	WHERE t.id = v.id`)

	insertNotesSQL = newPrepared(`INSERT INTO messages (id, tenant_id, ticket_id, role, content, channel, external_message_id, created_at)
	SELECT * FROM jsonb_to_recordset($1::jsonb) AS v (id text, tenant_id text, ticket_id text, role text, content text,
		channel text, external_message_id text, created_at timestamptz)`)

	// An event that no enabled automation or SLA policy of its tenant wants goes in
	// processed (see insertCausedEvents); it returns how many went in to be evaluated.
	insertCausedEventsSQL = newPrepared(`WITH v AS (
		SELECT * FROM jsonb_to_recordset($1::jsonb) AS v (id text, tenant_id text, ticket_id text, type text, actor text,
			depth integer, chain text[], caused_by text, payload jsonb, occurred_at timestamptz)
	), ins AS (
		INSERT INTO ticket_events (id, tenant_id, ticket_id, type, actor, depth, chain, caused_by, payload, occurred_at, processed_at)
		SELECT v.*, CASE WHEN ` + wantedSQL("v.tenant_id", "v.type") + ` THEN NULL ELSE now() END FROM v
		RETURNING processed_at)
	SELECT count(*) FROM ins WHERE processed_at IS NULL`)

	insertRunsSQL = newPrepared(`INSERT INTO automation_runs (id, tenant_id, automation_id, automation_version, event_id, event_type,
		ticket_id, matched, skipped, actions, error, explanation, evaluated_at)
	SELECT * FROM jsonb_to_recordset($1::jsonb) AS v (id text, tenant_id text, automation_id text, automation_version integer,
		event_id text, event_type text, ticket_id text, matched boolean, skipped text, actions jsonb, error text,
		explanation jsonb, evaluated_at timestamptz)
	ON CONFLICT (automation_id, event_id) DO NOTHING`)
)

// jsonRows is rows as the jsonb parameter of a jsonb_to_recordset statement.
func jsonRows[T any](rows []T) (string, error) {
	b, err := json.Marshal(rows)
	return string(b), err
}

func nullJSON(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}

type ticketChangeJSON struct {
	ID            string    `json:"id"`
	Subject       string    `json:"subject"`
	Status        string    `json:"status"`
	Priority      string    `json:"priority"`
	Tags          []string  `json:"tags"`
	UpdatedAt     time.Time `json:"updated_at"`
	MessageCount  int       `json:"message_count"`
	LastMessageAt time.Time `json:"last_message_at"`
}

func ticketChangeOf(r ticketRow) ticketChangeJSON {
	tags := r.Tags
	if tags == nil {
		tags = []string{}
	}
	return ticketChangeJSON{ID: r.ID, Subject: r.Subject, Status: r.Status, Priority: r.Priority, Tags: tags,
		UpdatedAt: r.UpdatedAt, MessageCount: r.MessageCount, LastMessageAt: r.LastMessageAt}
}

type messageJSON struct {
	ID                string    `json:"id"`
	TenantID          string    `json:"tenant_id"`
	TicketID          string    `json:"ticket_id"`
	Role              string    `json:"role"`
	Content           string    `json:"content"`
	Channel           string    `json:"channel"`
	ExternalMessageID *string   `json:"external_message_id"`
	CreatedAt         time.Time `json:"created_at"`
}

func messageJSONOf(r *messageRow) messageJSON {
	return messageJSON{ID: r.ID, TenantID: r.TenantID, TicketID: r.TicketID, Role: r.Role, Content: r.Content,
		Channel: r.Channel, ExternalMessageID: nullJSON(r.ExternalMessageID), CreatedAt: r.CreatedAt}
}

type eventJSON struct {
	ID         string       `json:"id"`
	TenantID   string       `json:"tenant_id"`
	TicketID   string       `json:"ticket_id"`
	Type       string       `json:"type"`
	Actor      string       `json:"actor"`
	Depth      int          `json:"depth"`
	Chain      []string     `json:"chain"`
	CausedBy   *string      `json:"caused_by"`
	Payload    eventPayload `json:"payload"`
	OccurredAt time.Time    `json:"occurred_at"`
}

func eventJSONOf(r *eventRow) eventJSON {
	chain := r.Chain
	if chain == nil {
		chain = []string{}
	}
	return eventJSON{ID: r.ID, TenantID: r.TenantID, TicketID: r.TicketID, Type: r.Type, Actor: r.Actor, Depth: r.Depth,
		Chain: chain, CausedBy: nullJSON(r.CausedBy), Payload: r.Payload, OccurredAt: r.OccurredAt}
}

type runJSON struct {
	ID                string              `json:"id"`
	TenantID          string              `json:"tenant_id"`
	AutomationID      string              `json:"automation_id"`
	AutomationVersion int                 `json:"automation_version"`
	EventID           string              `json:"event_id"`
	EventType         string              `json:"event_type"`
	TicketID          string              `json:"ticket_id"`
	Matched           bool                `json:"matched"`
	Skipped           *string             `json:"skipped"`
	Actions           []domain.RunAction  `json:"actions"`
	Error             *string             `json:"error"`
	Explanation       *domain.Explanation `json:"explanation"`
	EvaluatedAt       time.Time           `json:"evaluated_at"`
}

// insertJSON runs one of the statements above with rows as its parameter.
func insertJSON[T any](ctx context.Context, s *Conn, p *prepared, rows []T) (sql.Result, error) {
	param, err := jsonRows(rows)
	if err != nil {
		return nil, err
	}
	return s.execPrepared(ctx, p, param)
}
