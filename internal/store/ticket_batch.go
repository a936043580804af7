package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/threada/threada/internal/domain"
)

// Automations' writes to tickets (set_fields, add_note) are deferred to the end of the batch
// of events that made them and then written together: one statement reads and locks the
// batch's tickets, one updates them, one inserts the notes and one the events the changes
// cause, where writing them one by one cost two to three round trips each and the outbox
// fell behind the API as soon as a rule wrote (issue 21). Within a ticket the changes apply
// in the order they were made, each on the ticket as the one before left it, each with its
// own event stamped with its own origin, exactly as if written at once; the batch's
// transaction makes them, the runs and the events' processed marks commit together.

// deferredWrite is one automation's change to a ticket, waiting for FlushTicketWrites.
type deferredWrite struct {
	origin             domain.Origin
	tenantID, ticketID string
	update             *domain.TicketUpdate  // set_fields
	note               *domain.MessageCreate // add_note
	result             *string               // gets the change's domain error, for the run
}

// DeferTicketUpdate applies the normalized update u to the ticket at this transaction's
// next FlushTicketWrites, as a change by the origin ctx carries. If it cannot be applied
// (the ticket is gone), the reason is written to *result then. Outside a transaction it
// applies u at once.
func (s *Conn) DeferTicketUpdate(ctx context.Context, tenantID, ticketID string, u domain.TicketUpdate, result *string) error {
	if s.tx == nil {
		_, err := s.UpdateTicket(ctx, tenantID, ticketID, u)
		return noteDomainError(err, result)
	}
	s.tx.deferred = append(s.tx.deferred, deferredWrite{origin: domain.OriginFrom(ctx), tenantID: tenantID, ticketID: ticketID, update: &u, result: result})
	return nil
}

// DeferNote adds the normalized note m to the ticket at this transaction's next
// FlushTicketWrites; see DeferTicketUpdate.
func (s *Conn) DeferNote(ctx context.Context, tenantID, ticketID string, m domain.MessageCreate, result *string) error {
	if s.tx == nil {
		_, _, err := s.AddMessage(ctx, tenantID, ticketID, m)
		return noteDomainError(err, result)
	}
	s.tx.deferred = append(s.tx.deferred, deferredWrite{origin: domain.OriginFrom(ctx), tenantID: tenantID, ticketID: ticketID, note: &m, result: result})
	return nil
}

// noteDomainError writes a domain error's message to *result and returns any other error.
func noteDomainError(err error, result *string) error {
	var de *domain.Error
	if errors.As(err, &de) && de.Code != domain.EINTERNAL {
		*result = de.Message
		return nil
	}
	return err
}

// FlushTicketWrites writes the deferred changes (see DeferTicketUpdate) in the transaction.
func (s *Conn) FlushTicketWrites(ctx context.Context) error {
	if s.tx == nil || len(s.tx.deferred) == 0 {
		return nil
	}
	pending := s.tx.deferred
	s.tx.deferred = nil
	ids := make([]string, 0, len(pending))
	for _, w := range pending {
		ids = append(ids, w.ticketID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	// Locked in id order, so two batches cannot deadlock on each other's tickets.
	var rows []ticketRow
	if err := s.scanPrepared(ctx, lockTicketsSQL, &rows, textArray(ids)); err != nil {
		return err
	}
	type ticketState struct {
		row     *ticketRow
		current domain.Ticket
		last    time.Time // the latest change's time: each next one is later
		changed bool
	}
	tickets := make(map[string]*ticketState, len(rows))
	for i := range rows {
		tickets[rows[i].ID] = &ticketState{row: &rows[i], current: rows[i].toDomain()}
	}
	var events []*eventRow
	var notes []*messageRow
	for _, w := range pending {
		t := tickets[w.ticketID]
		if t == nil || t.row.TenantID != w.tenantID {
			*w.result = "No ticket " + w.ticketID + " exists."
			continue
		}
		at := now()
		if !at.After(t.last) {
			at = t.last.Add(time.Microsecond)
		}
		before := t.current
		after := before
		var msg *domain.Message
		typ := domain.EventTicketUpdated
		if w.update != nil {
			after = w.update.Apply(before)
			if ticketEqual(before, after) {
				continue // as UpdateTicket: a change that changes nothing writes nothing
			}
		} else {
			m := *w.note
			if m.Channel == "" {
				m.Channel = before.Channel
			}
			row := newMessageRow(w.tenantID, w.ticketID, m, at)
			notes = append(notes, row)
			msg = new(row.toDomain())
			after.MessageCount++
			if at.After(after.LastMessageAt) {
				after.LastMessageAt = at
			}
			typ = domain.EventMessageCreated
		}
		after.UpdatedAt = at
		events = append(events, newEventRow(domain.WithOrigin(ctx, w.origin), typ, &before, after, msg, at))
		t.current, t.last, t.changed = after, at, true
	}
	var changed []ticketChangeJSON
	for _, id := range ids {
		if t := tickets[id]; t != nil && t.changed {
			changed = append(changed, ticketChangeOf(t.row.with(t.current)))
		}
	}
	if len(changed) == 0 {
		return nil
	}
	if _, err := insertJSON(ctx, s, updateTicketsSQL, changed); err != nil {
		return fmt.Errorf("store: applying automations' ticket changes: %w", err)
	}
	if len(notes) > 0 {
		rows := make([]messageJSON, len(notes))
		for i, n := range notes {
			rows[i] = messageJSONOf(n)
		}
		if _, err := insertJSON(ctx, s, insertNotesSQL, rows); err != nil {
			return fmt.Errorf("store: adding automations' notes: %w", err)
		}
	}
	return s.insertCausedEvents(ctx, events)
}

// insertCausedEvents inserts the events of automations' changes in one statement. An event
// that no enabled automation or SLA policy of its tenant wants goes in processed, as the
// outbox's claim would mark it a moment later (see wantedSQL): the claim never has to
// find it.
func (s *Conn) insertCausedEvents(ctx context.Context, events []*eventRow) error {
	rows := make([]eventJSON, len(events))
	for i, e := range events {
		rows[i] = eventJSONOf(e)
	}
	param, err := jsonRows(rows)
	if err != nil {
		return err
	}
	var pending []int
	if err := s.scanPrepared(ctx, insertCausedEventsSQL, &pending, param); err != nil {
		return fmt.Errorf("store: recording automations' changes: %w", err)
	}
	if len(pending) > 0 && pending[0] > 0 {
		s.AfterCommit(ctx, func(context.Context) { s.root.notifyEvents() })
	}
	return nil
}

// wantedSQL is the condition under which an event of type typ for tenant tenant is
// evaluated at all: a fired delay timer's always (it names its automation), any other when
// the tenant has an enabled automation on its type, or, for a ticket change, an enabled SLA
// policy whose clocks it may move.
func wantedSQL(tenant, typ string) string {
	return `(` + typ + ` = 'automation.delay_elapsed'
		OR EXISTS (SELECT 1 FROM automations a WHERE a.tenant_id = ` + tenant + ` AND a.enabled AND ` + typ + ` = ANY (a.events))
		OR (` + typ + ` IN ('ticket.created', 'ticket.updated', 'message.created') AND
			EXISTS (SELECT 1 FROM sla_policies p WHERE p.tenant_id = ` + tenant + ` AND p.enabled)))`
}
