package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

// DeletedTicket is what DeleteTicket removed, by kind, and what is left to tell Temporal.
type DeletedTicket struct {
	Messages, Actions, Attempts, Runs, Events, Timers, Clocks int
	// Running are the ticket's actions whose workflows had started and not finished: the
	// caller cancels them after the commit. One it cannot reach ends at its next attempt,
	// which finds its action gone (contract.ErrTypeActionMissing), having sent nothing.
	Running []string
	// TimerIDs are the ticket's armed timers; Generation is newer than any of their arms,
	// for the caller to disarm their workflows with after the commit.
	TimerIDs   []string
	Generation int64

	tickets int // how many of the tickets asked for the tenant had
}

// DeleteTicket removes a tenant's ticket and every row about it, in one transaction: its
// events, messages, actions with their attempts, rules' runs, timers and SLA clocks.
// ENOTFOUND if the tenant has no such ticket.
func (s *Conn) DeleteTicket(ctx context.Context, tenantID, ticketID string) (*DeletedTicket, error) {
	var out *DeletedTicket
	err := s.InTx(ctx, func(tx *Conn) error {
		var err error
		out, err = tx.deleteTickets(ctx, tenantID, []string{ticketID}, "TRUE")
		if err == nil && out.tickets == 0 {
			err = domain.Errorf(domain.ENOTFOUND, "No ticket %s exists.", ticketID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// deleteTickets removes the tenant's tickets ids (those it has) and every row about them,
// on tx. The tickets' events are locked before the tickets, in the order an outbox batch
// takes them (events, then tickets), so a batch evaluating one of them finishes first and
// the two never deadlock; the tickets' locks then hold back every other writer of them
// until their rows are gone.
//
// Only the tickets that still meet cond (SQL over tickets, with args) when locked go: a
// retention job's candidates are checked again under the lock, so one reopened since is kept.
func (tx *Conn) deleteTickets(ctx context.Context, tenantID string, ids []string, cond string, args ...any) (*DeletedTicket, error) {
	out := &DeletedTicket{}
	in := bun.In(ids)
	if _, err := tx.db.NewSelect().Table("ticket_events").Column("id").
		Where("ticket_id IN (?) AND tenant_id = ?", in, tenantID).For("UPDATE").Exec(ctx); err != nil {
		return nil, err
	}
	var locked []string
	if err := tx.db.NewSelect().Table("tickets").Column("id").
		Where("id IN (?) AND tenant_id = ?", in, tenantID).Where(cond, args...).For("UPDATE").Scan(ctx, &locked); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if out.tickets = len(locked); out.tickets == 0 {
		return out, nil
	}
	in = bun.In(locked)
	var acts []struct {
		ID      string `bun:"id"`
		Status  string `bun:"status"`
		Started bool   `bun:"workflow_started"`
	}
	if err := tx.db.NewSelect().Table("actions").Column("id", "status", "workflow_started").
		Where("ticket_id IN (?) AND tenant_id = ?", in, tenantID).Scan(ctx, &acts); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	actIDs := []string{""} // never an id: keeps IN () well formed
	for _, a := range acts {
		actIDs = append(actIDs, a.ID)
		if a.Started && !domain.ActionTerminal(a.Status) {
			out.Running = append(out.Running, a.ID)
		}
	}
	if err := tx.db.NewSelect().Table("ticket_timers").Column("id").Where("ticket_id IN (?) AND tenant_id = ?", in, tenantID).
		Scan(ctx, &out.TimerIDs); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if len(out.TimerIDs) > 0 {
		var err error
		if out.Generation, err = tx.NextTimerGeneration(ctx); err != nil {
			return nil, err
		}
	}
	steps := []struct {
		n     *int
		query *bun.DeleteQuery
	}{
		{&out.Attempts, tx.db.NewDelete().Table("action_attempts").Where("action_id IN (?)", bun.In(actIDs))},
		{&out.Actions, tx.db.NewDelete().Table("actions").Where("ticket_id IN (?) AND tenant_id = ?", in, tenantID)},
		{&out.Runs, tx.db.NewDelete().Table("automation_runs").Where("ticket_id IN (?) AND tenant_id = ?", in, tenantID)},
		{&out.Events, tx.db.NewDelete().Table("ticket_events").Where("ticket_id IN (?) AND tenant_id = ?", in, tenantID)},
		{&out.Timers, tx.db.NewDelete().Table("ticket_timers").Where("ticket_id IN (?) AND tenant_id = ?", in, tenantID)},
		{&out.Clocks, tx.db.NewDelete().Table("ticket_slas").Where("ticket_id IN (?) AND tenant_id = ?", in, tenantID)},
		{&out.Messages, tx.db.NewDelete().Table("messages").Where("ticket_id IN (?) AND tenant_id = ?", in, tenantID)},
		{nil, tx.db.NewDelete().Table("tickets").Where("id IN (?) AND tenant_id = ?", in, tenantID)},
	}
	for _, st := range steps {
		res, err := st.query.Exec(ctx)
		if err != nil {
			return nil, err
		}
		if st.n != nil {
			n, err := res.RowsAffected()
			if err != nil {
				return nil, err
			}
			*st.n = int(n)
		}
	}
	return out, nil
}
