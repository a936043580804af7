package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/uptrace/bun"
)

// Offboarding a tenant (issue 22; the CLI's `tenant offboard`) is a sequence of steps,
// each idempotent, so a run that stops part way is finished by running it again:
// RevokeAllKeys, StopTenantWork, then (after the caller cancels the tenant's workflows)
// DeleteTenantTickets and DeleteTenantRows. Every statement is short: a batch of rows, its
// own transaction, so the tenants sharing the database never wait on it for long.

// RevokeAllKeys revokes every key of the tenant that is not revoked yet, and tells every
// API process to drop them from its cache, so no request of the tenant's is served from
// here on. It returns how many it revoked.
func (s *Store) RevokeAllKeys(ctx context.Context, tenantID string) (int, error) {
	var ids []string
	err := s.db.NewRaw("UPDATE api_keys SET revoked_at = ? WHERE tenant_id = ? AND revoked_at IS NULL RETURNING id", now(), tenantID).
		Scan(ctx, &ids)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	for _, id := range ids {
		s.invalidate(ctx, "key:"+id)
	}
	return len(ids), nil
}

// StopTenantWork disables the tenant's automations and deletes its SLA policies (with
// their clocks and timers), so the workers start no new action and arm no new timer for
// it while its rows go. It returns the rows it deleted by table. ENOTFOUND if there is no
// such tenant.
func (s *Store) StopTenantWork(ctx context.Context, tenantID string) (map[string]int64, error) {
	out := map[string]int64{}
	return out, s.InTx(ctx, func(tx *Conn) error {
		var id string
		if err := tx.db.NewSelect().Table("tenants").Column("id").Where("id = ?", tenantID).For("UPDATE").Scan(ctx, &id); err != nil {
			return wrapErr(err, "No tenant "+tenantID+" exists.")
		}
		if _, err := tx.db.NewUpdate().Table("automations").Set("enabled = false").Where("tenant_id = ? AND enabled", tenantID).Exec(ctx); err != nil {
			return err
		}
		// The clocks go with their policies (ON DELETE CASCADE), their timers by trigger.
		for _, table := range []string{"ticket_timers", "ticket_slas"} {
			n, err := tx.db.NewSelect().TableExpr("?", bun.Ident(table)).Where("tenant_id = ?", tenantID).Count(ctx)
			if err != nil {
				return err
			}
			out[table] = int64(n)
		}
		res, err := tx.db.NewDelete().Table("sla_policies").Where("tenant_id = ?", tenantID).Exec(ctx)
		if err != nil {
			return err
		}
		out["sla_policies"], err = res.RowsAffected()
		return err
	})
}

// DeleteTenantTickets deletes the tenant's tickets and every row about them, batch tickets
// a transaction (see deleteTickets), until none is left, calling report after each batch.
// It returns the totals.
func (s *Store) DeleteTenantTickets(ctx context.Context, tenantID string, batch int, report func(DeletedTicket)) (DeletedTicket, error) {
	var total DeletedTicket
	for {
		var ids []string
		if err := s.db.NewSelect().Table("tickets").Column("id").Where("tenant_id = ?", tenantID).
			OrderExpr("id").Limit(int64(batch)).Scan(ctx, &ids); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return total, err
		}
		if len(ids) == 0 {
			return total, nil
		}
		var d *DeletedTicket
		err := s.InTx(ctx, func(tx *Conn) error {
			var err error
			d, err = tx.deleteTickets(ctx, tenantID, ids, "TRUE")
			return err
		})
		if err != nil {
			return total, err
		}
		total.add(d)
		if report != nil {
			report(*d)
		}
	}
}

func (d *DeletedTicket) add(o *DeletedTicket) {
	d.tickets += o.tickets
	d.Messages += o.Messages
	d.Actions += o.Actions
	d.Attempts += o.Attempts
	d.Runs += o.Runs
	d.Events += o.Events
	d.Timers += o.Timers
	d.Clocks += o.Clocks
	d.Running = append(d.Running, o.Running...)
	d.TimerIDs = append(d.TimerIDs, o.TimerIDs...)
	d.Generation = max(d.Generation, o.Generation)
}

// Tickets is how many tickets a DeleteTenantTickets deleted.
func (d DeletedTicket) Tickets() int { return d.tickets }

// AddTo adds what was deleted to rows, by table.
func (d DeletedTicket) AddTo(rows map[string]int64) {
	for table, n := range map[string]int{"tickets": d.tickets, "messages": d.Messages, "actions": d.Actions, "action_attempts": d.Attempts,
		"automation_runs": d.Runs, "ticket_events": d.Events, "ticket_timers": d.Timers, "ticket_slas": d.Clocks} {
		rows[table] += int64(n)
	}
}

// tenantTablesLast are the tables with a tenant_id column that must go after the others
// (they are referenced by them), in the order they go; the tenants row goes after all.
var tenantTablesLast = []string{"actions", "action_replay_batches", "tickets", "automations", "sla_policies", "destinations", "api_keys"}

// DeleteTenantRows deletes every row left with the tenant's id, in every table that has a
// tenant_id column (found in the catalog, so a table added later is not forgotten),
// deleteBatch rows a statement, then the tenant itself. It returns the rows deleted by
// table. Run it after DeleteTenantTickets: what is left is small (keys, automations,
// audit rows, sessions).
func (s *Store) DeleteTenantRows(ctx context.Context, tenantID string) (map[string]int64, error) {
	tables, err := s.tenantTables(ctx)
	if err != nil {
		return nil, err
	}
	// The data keys go last of all, after the tenant's workflows ended (ShredDataKeys).
	tables = slices.DeleteFunc(tables, func(t string) bool { return t == "tenants" || t == "tenant_data_keys" })
	slices.SortStableFunc(tables, func(a, b string) int {
		return slices.Index(tenantTablesLast, a) - slices.Index(tenantTablesLast, b)
	})
	out := map[string]int64{}
	for _, table := range tables {
		n, err := s.deleteInBatches(ctx, table, "tenant_id = ?", tenantID)
		if n > 0 {
			out[table] += n
		}
		if err != nil {
			return out, fmt.Errorf("deleting the tenant's %s: %w", table, err)
		}
	}
	res, err := s.db.NewDelete().Table("tenants").Where("id = ?", tenantID).Exec(ctx)
	if err != nil {
		return out, err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		out["tenants"] = n
	}
	s.invalidate(ctx, "tenant:"+tenantID)
	return out, nil
}

// tenantTables are the tables with a tenant_id column, read from the catalog, in name order.
func (s *Store) tenantTables(ctx context.Context) ([]string, error) {
	var tables []string
	err := s.db.NewSelect().TableExpr("information_schema.columns").Column("table_name").
		Where("table_schema = current_schema() AND column_name = 'tenant_id'").
		Where("table_name IN (SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE')").
		OrderExpr("table_name").Scan(ctx, &tables)
	return tables, err
}

// TenantRowCount counts the rows with the tenant's id in every table that has a tenant_id
// column, and the tenant's own row: what offboarding leaves must be 0.
func (s *Store) TenantRowCount(ctx context.Context, tenantID string) (int64, error) {
	tables, err := s.tenantTables(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, table := range tables {
		n, err := s.db.NewSelect().TableExpr("?", bun.Ident(table)).Where("tenant_id = ?", tenantID).Count(ctx)
		if err != nil {
			return 0, err
		}
		total += int64(n)
	}
	n, err := s.db.NewSelect().Table("tenants").Where("id = ?", tenantID).Count(ctx)
	return total + int64(n), err
}
