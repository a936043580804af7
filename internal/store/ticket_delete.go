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
	// which finds its action gone (activities.ErrTypeActionMissing), having sent nothing.
	Running []string
	// TimerIDs are the ticket's armed timers; Generation is newer than any of their arms,
	// for the caller to disarm their workflows with after the commit.
	TimerIDs   []string
	Generation int64
}

// DeleteTicket removes a tenant's ticket and every row about it, in one transaction: its
// events, messages, actions with their attempts, rules' runs, timers and SLA clocks.
// ENOTFOUND if the tenant has no such ticket. The ticket's events are locked before the
// ticket, in the order an outbox batch takes them (events, then tickets), so a batch
// evaluating one of them finishes first and the two never deadlock; the ticket's lock then
// holds back every other writer of it until its rows are gone.
func (s *Conn) DeleteTicket(ctx context.Context, tenantID, ticketID string) (*DeletedTicket, error) {
	out := &DeletedTicket{}
	err := s.InTx(ctx, func(tx *Conn) error {
		if _, err := tx.db.NewSelect().Table("ticket_events").Column("id").
			Where("ticket_id = ? AND tenant_id = ?", ticketID, tenantID).For("UPDATE").Exec(ctx); err != nil {
			return err
		}
		var locked string
		if err := tx.db.NewSelect().Table("tickets").Column("id").
			Where("id = ? AND tenant_id = ?", ticketID, tenantID).For("UPDATE").Scan(ctx, &locked); err != nil {
			return wrapErr(err, "No ticket "+ticketID+" exists.")
		}
		var acts []struct {
			ID      string `bun:"id"`
			Status  string `bun:"status"`
			Started bool   `bun:"workflow_started"`
		}
		if err := tx.db.NewSelect().Table("actions").Column("id", "status", "workflow_started").
			Where("ticket_id = ? AND tenant_id = ?", ticketID, tenantID).Scan(ctx, &acts); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		ids := make([]string, len(acts))
		for i, a := range acts {
			ids[i] = a.ID
			if a.Started && !domain.ActionTerminal(a.Status) {
				out.Running = append(out.Running, a.ID)
			}
		}
		if err := tx.db.NewSelect().Table("ticket_timers").Column("id").Where("ticket_id = ? AND tenant_id = ?", ticketID, tenantID).
			Scan(ctx, &out.TimerIDs); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if len(out.TimerIDs) > 0 {
			var err error
			if out.Generation, err = tx.NextTimerGeneration(ctx); err != nil {
				return err
			}
		}
		steps := []struct {
			n     *int
			query *bun.DeleteQuery
		}{
			{&out.Attempts, tx.db.NewDelete().Table("action_attempts").Where("action_id IN (?)", bun.In(append(ids, "")))},
			{&out.Actions, tx.db.NewDelete().Table("actions").Where("ticket_id = ? AND tenant_id = ?", ticketID, tenantID)},
			{&out.Runs, tx.db.NewDelete().Table("automation_runs").Where("ticket_id = ? AND tenant_id = ?", ticketID, tenantID)},
			{&out.Events, tx.db.NewDelete().Table("ticket_events").Where("ticket_id = ? AND tenant_id = ?", ticketID, tenantID)},
			{&out.Timers, tx.db.NewDelete().Table("ticket_timers").Where("ticket_id = ? AND tenant_id = ?", ticketID, tenantID)},
			{&out.Clocks, tx.db.NewDelete().Table("ticket_slas").Where("ticket_id = ? AND tenant_id = ?", ticketID, tenantID)},
			{&out.Messages, tx.db.NewDelete().Table("messages").Where("ticket_id = ? AND tenant_id = ?", ticketID, tenantID)},
			{nil, tx.db.NewDelete().Table("tickets").Where("id = ? AND tenant_id = ?", ticketID, tenantID)},
		}
		for _, st := range steps {
			res, err := st.query.Exec(ctx)
			if err != nil {
				return err
			}
			if st.n != nil {
				n, err := res.RowsAffected()
				if err != nil {
					return err
				}
				*st.n = int(n)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
