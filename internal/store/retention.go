package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

// Retention (issue 22): each kind of record a tenant's settings bound goes, or is emptied,
// in short statements of at most retentionBatch rows, each reading an index that starts
// with the tenant, so a pass costs what it removes and never holds a lock for long.

// retentionBatch is how many rows one statement of a retention pass touches (tickets: how
// many one transaction deletes, with every row about them).
const (
	retentionBatch       = 1000
	retentionTicketBatch = 200
)

// TenantRetention is a tenant and its retention settings.
type TenantRetention struct {
	TenantID  string           `bun:"id"`
	Retention domain.Retention `bun:"retention,type:jsonb"`
}

// TenantsForRetention returns up to limit tenants after the id after, in id order.
func (s *Store) TenantsForRetention(ctx context.Context, after string, limit int) ([]TenantRetention, error) {
	var out []TenantRetention
	err := s.db.NewSelect().Table("tenants").Column("id", "retention").Where("id > ?", after).
		OrderExpr("id").Limit(int64(limit)).Scan(ctx, &out)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	return out, err
}

// RetentionReport is what one pass did for a tenant.
type RetentionReport struct {
	ClosedTickets DeletedTicket // the closed tickets deleted, and what went with them
	Attempts      int64         // attempt log entries deleted
	Runs          int64         // rules' runs deleted
	Audit         int64         // audit rows deleted
	Bodies        int64         // response bodies emptied (actions' and attempts')
}

// ApplyRetention applies t's retention as of now: closed tickets past their schedule are
// deleted with everything about them; audit rows, runs and the attempt logs of finished
// actions past theirs are deleted; response bodies past theirs are emptied (status and
// headers stay). The caller cancels and disarms what the deleted tickets had running
// (report.ClosedTickets.Running, .TimerIDs).
func (s *Store) ApplyRetention(ctx context.Context, t TenantRetention, now time.Time) (RetentionReport, error) {
	var rep RetentionReport
	r := t.Retention
	if cut, ok := r.Cutoff(domain.RetainClosedTickets, now); ok {
		if err := s.deleteClosedTickets(ctx, t.TenantID, cut, &rep.ClosedTickets); err != nil {
			return rep, err
		}
	}
	var err error
	if cut, ok := r.Cutoff(domain.RetainAudit, now); ok {
		if rep.Audit, err = s.deleteInBatches(ctx, "audit_events", "tenant_id = ? AND occurred_at < ?", t.TenantID, cut); err != nil {
			return rep, err
		}
	}
	if cut, ok := r.Cutoff(domain.RetainRuns, now); ok {
		if rep.Runs, err = s.deleteRuns(ctx, t.TenantID, cut); err != nil {
			return rep, err
		}
	}
	if cut, ok := r.Cutoff(domain.RetainAttempts, now); ok {
		rep.Attempts, err = s.sweepActions(ctx, t.TenantID, domain.RetainAttempts, cut, func(tx bun.IDB, ids []string) (int64, error) {
			return affected(tx.NewDelete().Table("action_attempts").Where("action_id IN (?)", bun.In(ids)).Exec(ctx))
		})
		if err != nil {
			return rep, err
		}
	}
	if cut, ok := r.Cutoff(domain.RetainResponseBodies, now); ok {
		rep.Bodies, err = s.sweepActions(ctx, t.TenantID, domain.RetainResponseBodies, cut, func(tx bun.IDB, ids []string) (int64, error) {
			n, err := affected(tx.NewUpdate().Table("actions").Set(`response = jsonb_set(response, '{body}', '""')`).
				Where("id IN (?) AND response->>'body' <> ''", bun.In(ids)).Exec(ctx))
			if err != nil {
				return n, err
			}
			m, err := affected(tx.NewUpdate().Table("action_attempts").Set(`response = jsonb_set(response, '{body}', '""')`).
				Where("action_id IN (?) AND response->>'body' <> ''", bun.In(ids)).Exec(ctx))
			return n + m, err
		})
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// deleteInBatches deletes table's rows matching where, retentionBatch a statement, each
// its own transaction (retention, offboarding).
func (s *Store) deleteInBatches(ctx context.Context, table, where string, args ...any) (int64, error) {
	var total int64
	for {
		n, err := affected(s.db.NewDelete().TableExpr("?", bun.Ident(table)).
			Where("ctid = ANY (ARRAY(SELECT ctid FROM ? WHERE "+where+" LIMIT ?))", append(append([]any{bun.Ident(table)}, args...), retentionBatch)...).Exec(ctx))
		total += n
		if err != nil || n < retentionBatch {
			return total, err
		}
	}
}

// deleteClosedTickets deletes the tenant's tickets closed before cut (status closed, last
// changed before it) with every row about them, retentionTicketBatch a transaction. They
// are read from the (tenant, status, last activity) index: a ticket last changed before
// cut had its last message before it too.
func (s *Store) deleteClosedTickets(ctx context.Context, tenantID string, cut time.Time, total *DeletedTicket) error {
	for {
		var ids []string
		if err := s.db.NewSelect().Table("tickets").Column("id").
			Where("tenant_id = ? AND status = ? AND last_message_at < ? AND updated_at < ?", tenantID, domain.StatusClosed, cut, cut).
			OrderExpr("last_message_at, id").Limit(retentionTicketBatch).Scan(ctx, &ids); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		err := s.InTx(ctx, func(tx *Conn) error {
			d, err := tx.deleteTickets(ctx, tenantID, ids, "status = ? AND updated_at < ?", domain.StatusClosed, cut)
			if err == nil {
				total.add(d)
			}
			return err
		})
		if err != nil || len(ids) < retentionTicketBatch {
			return err
		}
	}
}

// deleteRuns deletes the runs evaluated before cut of the tenant's automations, and of
// those it deleted (named by their audit rows), from each automation's run index.
func (s *Store) deleteRuns(ctx context.Context, tenantID string, cut time.Time) (int64, error) {
	var automations []string
	err := s.db.NewRaw(`SELECT id FROM automations WHERE tenant_id = ?
		UNION SELECT target FROM audit_events WHERE tenant_id = ? AND action = 'automation.delete'`, tenantID, tenantID).Scan(ctx, &automations)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	var total int64
	for _, id := range automations {
		n, err := s.deleteInBatches(ctx, "automation_runs", "automation_id = ? AND evaluated_at < ?", id, cut)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// sweepActions applies fn, retentionBatch actions a transaction, to the tenant's finished
// actions created before cut that the last sweep of kind had not reached, in creation
// order, and records how far it got. It stops at an action not finished yet (a later
// sweep takes it up from there), so an attempt still to come is never left behind.
func (s *Store) sweepActions(ctx context.Context, tenantID string, kind domain.RetentionKind, cut time.Time, fn func(bun.IDB, []string) (int64, error)) (int64, error) {
	var from time.Time
	if err := s.db.NewSelect().Table("retention_marks").Column("done_until").
		Where("tenant_id = ? AND kind = ?", tenantID, string(kind)).Scan(ctx, &from); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	var total int64
	cursorAt, cursorID := from, ""
	for {
		var rows []struct {
			ID        string    `bun:"id"`
			Status    string    `bun:"status"`
			CreatedAt time.Time `bun:"created_at"`
		}
		if err := s.db.NewSelect().Table("actions").Column("id", "status", "created_at").
			Where("tenant_id = ? AND created_at < ? AND (created_at, id) > (?, ?)", tenantID, cut, cursorAt, cursorID).
			OrderExpr("created_at, id").Limit(retentionBatch).Scan(ctx, &rows); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return total, err
		}
		done, blocked := cut, false
		var ids []string
		for _, r := range rows {
			if !domain.ActionTerminal(r.Status) {
				done, blocked = r.CreatedAt, true
				break
			}
			ids = append(ids, r.ID)
		}
		err := s.InTx(ctx, func(tx *Conn) error {
			if len(ids) > 0 {
				n, err := fn(tx.db, ids)
				total += n
				if err != nil {
					return err
				}
			}
			if !blocked && len(rows) == retentionBatch {
				done = rows[len(rows)-1].CreatedAt // the next batch may hold more of that instant: done is "before"
			}
			_, err := tx.db.NewRaw(`INSERT INTO retention_marks (tenant_id, kind, done_until) VALUES (?, ?, ?)
				ON CONFLICT (tenant_id, kind) DO UPDATE SET done_until = greatest(retention_marks.done_until, excluded.done_until)`,
				tenantID, string(kind), done).Exec(ctx)
			return err
		})
		if err != nil || blocked || len(rows) < retentionBatch {
			return total, err
		}
		last := rows[len(rows)-1]
		cursorAt, cursorID = last.CreatedAt, last.ID
	}
}

// retentionLockID is the session advisory lock a retention pass holds: one worker at a time
// runs it, the others skip their turn.
const retentionLockID = 7_270_022

// Exclusively runs fn while holding the retention lock on a connection of its own, and
// reports false without running it when another process holds it.
func (s *Store) Exclusively(ctx context.Context, fn func() error) (bool, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock(?)", retentionLockID).Scan(&got); err != nil || !got {
		return false, err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", retentionLockID) //nolint:errcheck // closing the session releases it too
	return true, fn()
}
