package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

type automationRow struct {
	bun.BaseModel `bun:"table:automations"`

	ID        string                    `bun:"id,pk"`
	TenantID  string                    `bun:"tenant_id"`
	Name      string                    `bun:"name"`
	Enabled   bool                      `bun:"enabled"`
	Events    []string                  `bun:"events,array"`
	Condition string                    `bun:"condition"`
	Actions   []domain.AutomationAction `bun:"actions,type:jsonb"`
	Position  int                       `bun:"position"`
	Version   int                       `bun:"version"`
	// DelaySeconds makes it a time-based rule (see domain.Automation.Delay).
	DelaySeconds sql.NullInt64 `bun:"delay_seconds"`
	Rearm        bool          `bun:"rearm"`
	// BudgetFailures counts evaluations in a row stopped by the rule budget.
	BudgetFailures int            `bun:"budget_failures"`
	DisabledReason sql.NullString `bun:"disabled_reason"`
	CreatedAt      time.Time      `bun:"created_at"`
	UpdatedAt      time.Time      `bun:"updated_at"`
}

func (r *automationRow) toDomain() domain.Automation {
	return domain.Automation{
		ID: r.ID, TenantID: r.TenantID, Name: r.Name, Enabled: r.Enabled, Events: r.Events,
		Condition: r.Condition, Actions: r.Actions, Position: r.Position, Version: r.Version,
		DisabledReason: r.DisabledReason.String, BudgetFailures: r.BudgetFailures, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		Delay: time.Duration(r.DelaySeconds.Int64) * time.Second, Rearm: r.Rearm,
	}
}

// applyTiming sets the delay and rearm fields present in in.
func (r *automationRow) applyTiming(in domain.AutomationInput) {
	switch {
	case in.ClearDelay:
		r.DelaySeconds = sql.NullInt64{}
	case in.Delay != nil:
		r.DelaySeconds = sql.NullInt64{Int64: int64(*in.Delay / time.Second), Valid: true}
	}
	if in.Rearm != nil {
		r.Rearm = *in.Rearm
	}
}

// AutomationCursor is a position in the automation listing (position, id).
type AutomationCursor struct {
	Position int
	ID       string
}

// CreateAutomation stores a checked automation. Without a position it goes last.
// ECONFLICT past domain.MaxAutomationsByTenant, or, for one with a delay, past
// domain.MaxDelayAutomationsByTenant.
func (s *Conn) CreateAutomation(ctx context.Context, tenantID string, in domain.AutomationInput) (*domain.Automation, error) {
	var out domain.Automation
	err := s.InTx(ctx, func(tx *Conn) error {
		if err := tx.takeTurnBelow(ctx, tenantID, "automations", domain.MaxAutomationsByTenant, "automations"); err != nil {
			return err
		}
		at := now()
		row := &automationRow{
			ID: domain.NewID(domain.PrefixAutomation), TenantID: tenantID, Name: *in.Name, Enabled: true,
			Events: *in.Events, Condition: *in.Condition, Actions: *in.Actions, Version: 1, CreatedAt: at, UpdatedAt: at, Rearm: true,
		}
		row.applyTiming(in)
		if err := tx.delayBelowCap(ctx, tenantID, false, row.DelaySeconds.Valid); err != nil {
			return err
		}
		if in.Enabled != nil {
			row.Enabled = *in.Enabled
		}
		if in.Position != nil {
			row.Position = *in.Position
		} else {
			var err error
			if row.Position, err = tx.lastPosition(ctx, "automations", tenantID); err != nil {
				return err
			}
		}
		if _, err := tx.db.NewInsert().Model(row).Exec(ctx); err != nil {
			return err
		}
		out = row.toDomain()
		return nil
	})
	return &out, err
}

// takeTurnBelow makes a tenant's creates in table take turns, so that two never read the
// same count or the same last position, and refuses one past max (of what, in words).
// NO KEY UPDATE leaves inserts that reference the tenant unblocked.
func (tx *Conn) takeTurnBelow(ctx context.Context, tenantID, table string, max int, what string) error {
	if _, err := tx.db.NewSelect().Table("tenants").Column("id").Where("id = ?", tenantID).For("NO KEY UPDATE").Exec(ctx); err != nil {
		return err
	}
	n, err := tx.db.NewSelect().Table(table).Where("tenant_id = ?", tenantID).Count(ctx)
	if err != nil {
		return err
	}
	if n >= int64(max) {
		return domain.Errorf(domain.ECONFLICT, "A tenant can have at most %d %s.", max, what)
	}
	return nil
}

// delayBelowCap refuses an automation that gains a delay when the tenant has
// domain.MaxDelayAutomationsByTenant delayed ones already (ECONFLICT). The tenant's row is
// locked first, so two requests cannot both take the last place.
func (tx *Conn) delayBelowCap(ctx context.Context, tenantID string, had, has bool) error {
	if had || !has {
		return nil
	}
	if _, err := tx.db.NewSelect().Table("tenants").Column("id").Where("id = ?", tenantID).For("NO KEY UPDATE").Exec(ctx); err != nil {
		return err
	}
	n, err := tx.db.NewSelect().Table("automations").Where("tenant_id = ? AND delay_seconds IS NOT NULL", tenantID).Count(ctx)
	if err != nil {
		return err
	}
	if n >= domain.MaxDelayAutomationsByTenant {
		return domain.Errorf(domain.ECONFLICT, "A tenant can have at most %d automations with a `delay` (time-based rules); this one would be number %d. Remove the delay of one you no longer need, or delete it.", domain.MaxDelayAutomationsByTenant, n+1)
	}
	return nil
}

// lastPosition is the position after the tenant's last in table (0 for the first).
func (tx *Conn) lastPosition(ctx context.Context, table, tenantID string) (int, error) {
	var pos int
	err := tx.db.NewSelect().Table(table).ColumnExpr("coalesce(max(position) + 1, 0)").Where("tenant_id = ?", tenantID).Scan(ctx, &pos)
	return pos, err
}

// GetAutomation returns one automation of the tenant. ENOTFOUND.
func (s *Conn) GetAutomation(ctx context.Context, tenantID, id string) (*domain.Automation, error) {
	row := new(automationRow)
	if err := s.db.NewSelect().Model(row).Where("id = ? AND tenant_id = ?", id, tenantID).Scan(ctx); err != nil {
		return nil, wrapErr(err, "No automation "+id+" exists.")
	}
	a := row.toDomain()
	return &a, nil
}

// UpdateAutomation applies the fields present in in and bumps the version. ENOTFOUND.
func (s *Conn) UpdateAutomation(ctx context.Context, tenantID, id string, in domain.AutomationInput) (*domain.Automation, error) {
	var out domain.Automation
	err := s.InTx(ctx, func(tx *Conn) error {
		row := new(automationRow)
		if err := tx.db.NewSelect().Model(row).Where("id = ? AND tenant_id = ?", id, tenantID).For("UPDATE").Scan(ctx); err != nil {
			return wrapErr(err, "No automation "+id+" exists.")
		}
		if in.Name != nil {
			row.Name = *in.Name
		}
		if in.Enabled != nil {
			row.Enabled = *in.Enabled
		}
		if in.Events != nil {
			row.Events = *in.Events
		}
		if in.Condition != nil {
			row.Condition = *in.Condition
		}
		if in.Actions != nil {
			row.Actions = *in.Actions
		}
		if in.Position != nil {
			row.Position = *in.Position
		}
		hadDelay := row.DelaySeconds.Valid
		row.applyTiming(in)
		if err := tx.delayBelowCap(ctx, tenantID, hadDelay, row.DelaySeconds.Valid); err != nil {
			return err
		}
		// A changed rule starts a fresh count; enabling it again clears why it was disabled.
		row.BudgetFailures = 0
		if row.Enabled {
			row.DisabledReason = sql.NullString{}
		}
		row.Version++
		row.UpdatedAt = now()
		if _, err := tx.db.NewUpdate().Model(row).WherePK().Exec(ctx); err != nil {
			return err
		}
		out = row.toDomain()
		return nil
	})
	return &out, err
}

// DeleteAutomation removes an automation; its runs stay. ENOTFOUND.
func (s *Conn) DeleteAutomation(ctx context.Context, tenantID, id string) (*domain.Automation, error) {
	row := new(automationRow)
	err := s.db.NewDelete().Model(row).Where("id = ? AND tenant_id = ?", id, tenantID).Returning("*").Scan(ctx)
	if err != nil {
		return nil, wrapErr(err, "No automation "+id+" exists.")
	}
	a := row.toDomain()
	return &a, nil
}

// ListAutomations returns the tenant's automations in evaluation order after the cursor.
func (s *Conn) ListAutomations(ctx context.Context, tenantID string, after *AutomationCursor, limit int) ([]domain.Automation, bool, error) {
	var rows []automationRow
	q := s.db.NewSelect().Model(&rows).Where("tenant_id = ?", tenantID)
	if after != nil {
		q = q.Where("(position, id) > (?, ?)", after.Position, after.ID)
	}
	if err := q.OrderExpr("position, id").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, false, err
	}
	out, more := pageOf(rows, limit, (*automationRow).toDomain)
	return out, more, nil
}

// EnabledAutomations returns the tenant's enabled automations listening to eventType, in
// evaluation order.
func (s *Conn) EnabledAutomations(ctx context.Context, tenantID, eventType string) ([]domain.Automation, error) {
	var rows []automationRow
	err := s.db.NewSelect().Model(&rows).
		Where("tenant_id = ? AND enabled AND ? = ANY(events)", tenantID, eventType).
		OrderExpr("position, id").Scan(ctx)
	if err != nil {
		return nil, err
	}
	out, _ := pageOf(rows, len(rows), (*automationRow).toDomain)
	return out, nil
}

type runRow struct {
	bun.BaseModel `bun:"table:automation_runs"`

	ID                string              `bun:"id,pk"`
	TenantID          string              `bun:"tenant_id"`
	AutomationID      string              `bun:"automation_id"`
	AutomationVersion int                 `bun:"automation_version"`
	EventID           string              `bun:"event_id"`
	EventType         string              `bun:"event_type"`
	TicketID          string              `bun:"ticket_id"`
	Matched           bool                `bun:"matched"`
	Skipped           sql.NullString      `bun:"skipped"`
	Actions           []domain.RunAction  `bun:"actions,type:jsonb"`
	Error             sql.NullString      `bun:"error"`
	Explanation       *domain.Explanation `bun:"explanation,type:jsonb"`
	EvaluatedAt       time.Time           `bun:"evaluated_at"`
}

func (r *runRow) toDomain() domain.AutomationRun {
	acts := r.Actions
	if acts == nil {
		acts = []domain.RunAction{}
	}
	return domain.AutomationRun{
		ID: r.ID, TenantID: r.TenantID, AutomationID: r.AutomationID, AutomationVersion: r.AutomationVersion,
		EventID: r.EventID, EventType: r.EventType, TicketID: r.TicketID, Matched: r.Matched, Skipped: r.Skipped.String,
		Actions: acts, Error: r.Error.String, Explanation: r.Explanation, EvaluatedAt: r.EvaluatedAt.UTC(),
	}
}

// RecordRuns stores the evaluations of one event.
func (s *Conn) RecordRuns(ctx context.Context, runs []domain.AutomationRun) error {
	if len(runs) == 0 {
		return nil
	}
	rows := make([]runJSON, len(runs))
	for i, r := range runs {
		acts := r.Actions
		if acts == nil {
			acts = []domain.RunAction{}
		}
		rows[i] = runJSON{
			ID: domain.NewID(domain.PrefixRun), TenantID: r.TenantID, AutomationID: r.AutomationID, AutomationVersion: r.AutomationVersion,
			EventID: r.EventID, EventType: r.EventType, TicketID: r.TicketID, Matched: r.Matched, Skipped: nullJSON(nullString(r.Skipped)),
			Actions: acts, Error: nullJSON(nullString(r.Error)), Explanation: r.Explanation, EvaluatedAt: now(),
		}
	}
	_, err := insertJSON(ctx, s, insertRunsSQL, rows) // prepared, see batch_sql.go
	return err
}

// RunCursor is a position in an automation's run history (evaluated_at desc, id desc).
type RunCursor struct {
	EvaluatedAt time.Time
	ID          string
}

// ListRuns returns an automation's runs, newest first. ENOTFOUND for an unknown
// automation of the tenant.
func (s *Conn) ListRuns(ctx context.Context, tenantID, automationID string, after *RunCursor, limit int) ([]domain.AutomationRun, bool, error) {
	if _, err := s.GetAutomation(ctx, tenantID, automationID); err != nil {
		return nil, false, err
	}
	var rows []runRow
	q := s.db.NewSelect().Model(&rows).Where("automation_id = ? AND tenant_id = ?", automationID, tenantID)
	if after != nil {
		q = q.Where("(evaluated_at, id) < (?, ?)", after.EvaluatedAt, after.ID)
	}
	if err := q.OrderExpr("evaluated_at DESC, id DESC").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, false, err
	}
	out, more := pageOf(rows, limit, (*runRow).toDomain)
	return out, more, nil
}

// NoteBudgetOutcomes keeps the count of consecutive evaluations each automation ran past
// the rule budget: it resets the count of those that stayed within it, and adds one for
// those that did not. One that reaches limit is disabled with its reason and an audit
// event (automation.auto_disabled). Run it on the event's transaction.
func (s *Conn) NoteBudgetOutcomes(ctx context.Context, tenantID string, over, within []string, limit int) error {
	db := s.db
	if len(within) > 0 {
		if _, err := db.NewUpdate().Table("automations").Set("budget_failures = 0").
			Where("tenant_id = ? AND id IN (?) AND budget_failures > 0", tenantID, bun.In(within)).Exec(ctx); err != nil {
			return err
		}
	}
	if len(over) == 0 {
		return nil
	}
	reason := fmt.Sprintf("disabled automatically: %d evaluations in a row exceeded the rule evaluation budget", limit)
	var disabled []automationRow
	if err := db.NewRaw(`UPDATE automations SET budget_failures = budget_failures + 1,
		enabled = CASE WHEN budget_failures + 1 >= ? THEN false ELSE enabled END,
		disabled_reason = CASE WHEN budget_failures + 1 >= ? THEN ? ELSE disabled_reason END,
		version = CASE WHEN budget_failures + 1 >= ? THEN version + 1 ELSE version END,
		updated_at = CASE WHEN budget_failures + 1 >= ? THEN ? ELSE updated_at END
		WHERE tenant_id = ? AND id IN (?) RETURNING *`,
		limit, limit, reason, limit, limit, now(), tenantID, bun.In(over)).Scan(ctx, &disabled); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	for _, row := range disabled {
		if row.Enabled || row.BudgetFailures != limit {
			continue
		}
		a := row.toDomain()
		if err := s.RecordAudit(ctx, domain.AuditEvent{TenantID: tenantID, Actor: "system", Action: "automation.auto_disabled",
			Target: a.ID, After: map[string]any{"enabled": false, "disabled_reason": reason, "version": a.Version}}); err != nil {
			return err
		}
	}
	return nil
}
