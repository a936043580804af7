package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

// targetSeconds is a priority's targets as stored: seconds, 0 for none.
type targetSeconds struct {
	FirstReply int64 `json:"first_reply,omitempty"`
	Resolution int64 `json:"resolution,omitempty"`
}

type slaPolicyRow struct {
	bun.BaseModel `bun:"table:sla_policies,alias:sp"`

	ID             string                   `bun:"id,pk"`
	TenantID       string                   `bun:"tenant_id"`
	Name           string                   `bun:"name"`
	Enabled        bool                     `bun:"enabled"`
	Condition      string                   `bun:"condition"`
	Position       int                      `bun:"position"`
	Targets        map[string]targetSeconds `bun:"targets,type:jsonb"`
	WarningPercent int                      `bun:"warning_percent"`
	Calendar       *domain.BusinessCalendar `bun:"calendar,type:jsonb"`
	Version        int                      `bun:"version"`
	CreatedAt      time.Time                `bun:"created_at"`
	UpdatedAt      time.Time                `bun:"updated_at"`
}

func (r *slaPolicyRow) toDomain() domain.SLAPolicy {
	p := domain.SLAPolicy{ID: r.ID, TenantID: r.TenantID, Name: r.Name, Enabled: r.Enabled, Condition: r.Condition, Position: r.Position,
		Targets: map[string]domain.SLATarget{}, WarningPercent: r.WarningPercent, Version: r.Version,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	for prio, t := range r.Targets {
		p.Targets[prio] = domain.SLATarget{FirstReply: time.Duration(t.FirstReply) * time.Second, Resolution: time.Duration(t.Resolution) * time.Second}
	}
	if r.Calendar != nil {
		c := *r.Calendar
		if c.Check() == nil { // stored calendars were checked when saved
			p.Calendar = &c
		}
	}
	return p
}

func (r *slaPolicyRow) apply(in domain.SLAPolicyInput) {
	if in.Name != nil {
		r.Name = *in.Name
	}
	if in.Enabled != nil {
		r.Enabled = *in.Enabled
	}
	if in.Condition != nil {
		r.Condition = *in.Condition
	}
	if in.Position != nil {
		r.Position = *in.Position
	}
	if in.Targets != nil {
		r.Targets = map[string]targetSeconds{}
		for prio, t := range *in.Targets {
			r.Targets[prio] = targetSeconds{FirstReply: int64(t.FirstReply / time.Second), Resolution: int64(t.Resolution / time.Second)}
		}
	}
	if in.WarningPercent != nil {
		r.WarningPercent = *in.WarningPercent
	}
	switch {
	case in.ClearCalendar:
		r.Calendar = nil
	case in.Calendar != nil:
		r.Calendar = in.Calendar
	}
}

// CreateSLAPolicy stores a checked policy; without a position it goes last. ECONFLICT past
// domain.MaxSLAPolicies.
func (s *Conn) CreateSLAPolicy(ctx context.Context, tenantID string, in domain.SLAPolicyInput) (*domain.SLAPolicy, error) {
	var out domain.SLAPolicy
	err := s.InTx(ctx, func(tx *Conn) error {
		if err := tx.takeTurnBelow(ctx, tenantID, "sla_policies", domain.MaxSLAPolicies, "SLA policies"); err != nil {
			return err
		}
		at := now()
		row := &slaPolicyRow{ID: domain.NewID(domain.PrefixSLAPolicy), TenantID: tenantID, Enabled: true,
			WarningPercent: domain.DefaultSLAWarningPercent, Version: 1, CreatedAt: at, UpdatedAt: at}
		row.apply(in)
		if in.Position == nil {
			var err error
			if row.Position, err = tx.lastPosition(ctx, "sla_policies", tenantID); err != nil {
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

// GetSLAPolicy returns one policy of the tenant. ENOTFOUND.
func (s *Conn) GetSLAPolicy(ctx context.Context, tenantID, id string) (*domain.SLAPolicy, error) {
	row := new(slaPolicyRow)
	if err := s.db.NewSelect().Model(row).Where("id = ? AND tenant_id = ?", id, tenantID).Scan(ctx); err != nil {
		return nil, wrapErr(err, "No SLA policy "+id+" exists.")
	}
	p := row.toDomain()
	return &p, nil
}

// UpdateSLAPolicy applies the fields present and bumps the version. Clocks already running
// take the change at their ticket's next event. ENOTFOUND.
func (s *Conn) UpdateSLAPolicy(ctx context.Context, tenantID, id string, in domain.SLAPolicyInput) (*domain.SLAPolicy, error) {
	var out domain.SLAPolicy
	err := s.InTx(ctx, func(tx *Conn) error {
		row := new(slaPolicyRow)
		if err := tx.db.NewSelect().Model(row).Where("id = ? AND tenant_id = ?", id, tenantID).For("UPDATE").Scan(ctx); err != nil {
			return wrapErr(err, "No SLA policy "+id+" exists.")
		}
		row.apply(in)
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

// DeleteSLAPolicy removes a policy; its clocks stop and go. ENOTFOUND.
func (s *Conn) DeleteSLAPolicy(ctx context.Context, tenantID, id string) (*domain.SLAPolicy, error) {
	row := new(slaPolicyRow)
	if err := s.db.NewDelete().Model(row).Where("id = ? AND tenant_id = ?", id, tenantID).Returning("*").Scan(ctx); err != nil {
		return nil, wrapErr(err, "No SLA policy "+id+" exists.")
	}
	p := row.toDomain()
	return &p, nil
}

// ListSLAPolicies returns the tenant's policies in position order after the cursor.
func (s *Conn) ListSLAPolicies(ctx context.Context, tenantID string, after *AutomationCursor, limit int) ([]domain.SLAPolicy, bool, error) {
	var rows []slaPolicyRow
	q := s.db.NewSelect().Model(&rows).Where("tenant_id = ?", tenantID)
	if after != nil {
		q = q.Where("(position, id) > (?, ?)", after.Position, after.ID)
	}
	if err := q.OrderExpr("position, id").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, false, err
	}
	out, more := pageOf(rows, limit, (*slaPolicyRow).toDomain)
	return out, more, nil
}

// EnabledSLAPolicies returns the tenant's enabled policies in position order.
func (s *Conn) EnabledSLAPolicies(ctx context.Context, tenantID string) ([]domain.SLAPolicy, error) {
	var rows []slaPolicyRow
	if err := s.db.NewSelect().Model(&rows).Where("tenant_id = ? AND enabled", tenantID).OrderExpr("position, id").Scan(ctx); err != nil {
		return nil, err
	}
	out, _ := pageOf(rows, len(rows), (*slaPolicyRow).toDomain)
	return out, nil
}

type clockRow struct {
	bun.BaseModel `bun:"table:ticket_slas,alias:ts"`

	TicketID     string     `bun:"ticket_id,pk"`
	Metric       string     `bun:"metric,pk"`
	TenantID     string     `bun:"tenant_id"`
	PolicyID     string     `bun:"policy_id"`
	TargetMS     int64      `bun:"target_ms"`
	ElapsedMS    int64      `bun:"elapsed_ms"`
	RunningSince *time.Time `bun:"running_since"`
	DueAt        *time.Time `bun:"due_at"`
	WarningAt    *time.Time `bun:"warning_at"`
	Warned       bool       `bun:"warned"`
	BreachedAt   *time.Time `bun:"breached_at"`
	AchievedAt   *time.Time `bun:"achieved_at"`
}

func (r *clockRow) toDomain() *domain.SLAClock {
	return &domain.SLAClock{Metric: r.Metric, PolicyID: r.PolicyID, Target: time.Duration(r.TargetMS) * time.Millisecond,
		Elapsed: time.Duration(r.ElapsedMS) * time.Millisecond, RunningSince: utcPtr(r.RunningSince), DueAt: utcPtr(r.DueAt),
		WarningAt: utcPtr(r.WarningAt), Warned: r.Warned, Breached: r.BreachedAt != nil, BreachedAt: utcPtr(r.BreachedAt), AchievedAt: utcPtr(r.AchievedAt)}
}

// TicketClocks returns a ticket's SLA clocks by metric.
func (s *Conn) TicketClocks(ctx context.Context, ticketID string) (map[string]*domain.SLAClock, error) {
	var rows []clockRow
	if err := s.db.NewSelect().Model(&rows).Where("ticket_id = ?", ticketID).Scan(ctx); err != nil {
		return nil, err
	}
	out := make(map[string]*domain.SLAClock, len(rows))
	for i := range rows {
		out[rows[i].Metric] = rows[i].toDomain()
	}
	return out, nil
}

// SaveClocks saves an event's clock plan (domain.PlanClocks) for a ticket in one
// statement: the clocks it keeps are stored as given, those it drops are deleted, and each
// clock's timer is (re)armed for its next mark or disarmed. It returns, in the plan's
// order, what became of the timers, for the caller to tell Temporal once the transaction
// commits; a timer armed already for the same mark, or disarmed with none armed, is left
// out.
func (s *Conn) SaveClocks(ctx context.Context, tenantID, ticketID string, plan []domain.ClockChange) ([]TimerChange, error) {
	if len(plan) == 0 {
		return nil, nil
	}
	r := clockPlanRows(tenantID, ticketID, plan)
	// Every change arms or disarms its timer: the statement answers from one or both.
	var answers []*bun.SelectQuery
	if len(r.disarm) > 0 {
		answers = append(answers, s.db.NewSelect().ColumnExpr("id, generation, false AS armed").TableExpr("disarmed"))
	}
	if len(r.arm) > 0 {
		answers = append(answers, s.db.NewSelect().ColumnExpr("id, generation, true AS armed").TableExpr("armed"))
	}
	union := answers[0]
	if len(answers) > 1 {
		union = union.UnionAll(answers[1])
	}
	q := s.db.NewSelect().ColumnExpr("id, generation, armed").TableExpr("(?) AS answers", union)
	if len(r.drop) > 0 {
		q = q.With("dropped", s.db.NewDelete().Table("ticket_slas").Where("ticket_id = ? AND metric IN (?)", ticketID, bun.In(r.drop)))
	}
	if len(r.keep) > 0 {
		q = q.With("kept", s.db.NewInsert().Model(&r.keep).On("CONFLICT (ticket_id, metric) DO UPDATE").
			Set("policy_id = EXCLUDED.policy_id").Set("target_ms = EXCLUDED.target_ms").Set("elapsed_ms = EXCLUDED.elapsed_ms").
			Set("running_since = EXCLUDED.running_since").Set("due_at = EXCLUDED.due_at").Set("warning_at = EXCLUDED.warning_at").
			Set("warned = EXCLUDED.warned").Set("breached_at = EXCLUDED.breached_at").Set("achieved_at = EXCLUDED.achieved_at"))
	}
	if len(r.disarm) > 0 {
		// The generation drawn tells the timer's workflow that its arms before it are void.
		q = q.With("disarmed", s.db.NewDelete().Table("ticket_timers").Where("id IN (?)", bun.In(r.disarm)).
			Returning("id, nextval('ticket_timers_generation') AS generation"))
	}
	if len(r.arm) > 0 {
		// A timer armed already for the very same mark is left as it is, and not answered.
		q = q.With("armed", s.db.NewInsert().Model(&r.arm).ExcludeColumn("generation").On("CONFLICT (id) DO UPDATE").
			Set("generation = nextval('ticket_timers_generation')").Set("due_at = EXCLUDED.due_at").Set("armed_at = EXCLUDED.armed_at").
			Set("event = EXCLUDED.event").Set("synced = false").
			Where("tt.due_at <> EXCLUDED.due_at OR tt.event <> EXCLUDED.event").
			Returning("id, generation"))
	}
	var got []struct {
		ID         string `bun:"id"`
		Generation int64  `bun:"generation"`
		Armed      bool   `bun:"armed"`
	}
	if err := q.Scan(ctx, &got); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	var out []TimerChange
	for _, row := range r.timerOrder {
		for _, g := range got {
			if g.ID == row {
				out = append(out, r.change(g.ID, g.Generation, g.Armed))
			}
		}
	}
	return out, nil
}

// planRows are a clock plan's rows: the clocks kept and the metrics dropped, the timers
// armed and the timer IDs disarmed, and every timer ID in the plan's order.
type planRows struct {
	keep       []clockRow
	drop       []string
	arm        []timerRow
	disarm     []string
	timerOrder []string
}

func clockPlanRows(tenantID, ticketID string, plan []domain.ClockChange) planRows {
	var r planRows
	for _, ch := range plan {
		id := SLATimerID(ticketID, ch.Metric)
		r.timerOrder = append(r.timerOrder, id)
		if c := ch.Clock; c != nil {
			r.keep = append(r.keep, clockRow{TicketID: ticketID, Metric: c.Metric, TenantID: tenantID, PolicyID: c.PolicyID,
				TargetMS: c.Target.Milliseconds(), ElapsedMS: c.Elapsed.Milliseconds(), RunningSince: c.RunningSince, DueAt: c.DueAt,
				WarningAt: c.WarningAt, Warned: c.Warned, BreachedAt: c.BreachedAt, AchievedAt: c.AchievedAt})
		} else {
			r.drop = append(r.drop, ch.Metric)
		}
		if ch.Next == nil {
			r.disarm = append(r.disarm, id)
			continue
		}
		r.arm = append(r.arm, timerRow{ID: id, TenantID: tenantID, TicketID: ticketID, Kind: TimerSLA, DueAt: ch.Next.DueAt, ArmedAt: now(),
			Event: firing{Type: ch.Next.Type, Actor: "sla:" + ch.Clock.PolicyID, Depth: 1, Chain: []string{},
				SLA: &domain.SLAMark{PolicyID: ch.Clock.PolicyID, Metric: ch.Metric, DueAt: derefTime(ch.Clock.DueAt)}}})
	}
	return r
}

// change is what became of timer id: armed at gen, or disarmed at gen.
func (r *planRows) change(id string, gen int64, armed bool) TimerChange {
	tc := TimerChange{ID: id, Generation: gen}
	if armed {
		i := slices.IndexFunc(r.arm, func(t timerRow) bool { return t.ID == id })
		r.arm[i].Generation = gen
		t := r.arm[i].toDomain()
		tc.Armed = &t
	}
	return tc
}

// TimerChange is what saving a clock plan did to one clock's timer: armed for a new mark,
// to give to Temporal, or disarmed at Generation, to tell its workflow.
type TimerChange struct {
	ID         string
	Generation int64
	Armed      *Timer // nil: disarmed
}

// SLATimerID is the ID of the timer of a ticket's clock.
func SLATimerID(ticketID, metric string) string { return "sla:" + ticketID + ":" + metric }

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// UndatedClock is a running clock without a due date, with the policy that runs it.
type UndatedClock struct {
	TenantID, TicketID string
	Clock              *domain.SLAClock
	Policy             domain.SLAPolicy
}

// LockUndatedClocks locks, in the caller's transaction, up to limit running clocks that
// have no due date, with their policies, tenants in turn (every tenant's oldest, then
// every tenant's second, ...). Clocks that another transaction holds are skipped: an
// event updating its ticket's clocks sets their due dates itself.
func (s *Conn) LockUndatedClocks(ctx context.Context, limit int) ([]UndatedClock, error) {
	var rows []clockRow
	err := s.db.NewRaw(`WITH RECURSIVE `+tenantsWithRows("ticket_slas", "running_since IS NOT NULL AND due_at IS NULL")+`, c AS (
			SELECT x.ticket_id, x.metric, x.turn, x.tenant_id
			FROM tenants_with tn CROSS JOIN LATERAL (
				SELECT ts.ticket_id, ts.metric, ts.tenant_id, row_number() OVER (ORDER BY ts.running_since, ts.ticket_id, ts.metric) AS turn
				FROM ticket_slas ts
				WHERE ts.tenant_id = tn.id AND ts.running_since IS NOT NULL AND ts.due_at IS NULL
				ORDER BY ts.running_since, ts.ticket_id, ts.metric LIMIT ?) x
			ORDER BY x.turn, x.tenant_id LIMIT ?)
		SELECT ts.* FROM ticket_slas ts JOIN c ON c.ticket_id = ts.ticket_id AND c.metric = ts.metric
		WHERE ts.running_since IS NOT NULL AND ts.due_at IS NULL
		ORDER BY c.turn, c.tenant_id
		FOR UPDATE OF ts SKIP LOCKED`, limit, limit).Scan(ctx, &rows)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	ids := make([]string, len(rows))
	for i := range rows {
		ids[i] = rows[i].PolicyID
	}
	var policies []slaPolicyRow
	if err := s.db.NewSelect().Model(&policies).Where("id IN (?)", bun.In(ids)).Scan(ctx); err != nil {
		return nil, err
	}
	byID := make(map[string]domain.SLAPolicy, len(policies))
	for i := range policies {
		byID[policies[i].ID] = policies[i].toDomain()
	}
	out := make([]UndatedClock, len(rows))
	for i := range rows {
		r := &rows[i]
		out[i] = UndatedClock{TenantID: r.TenantID, TicketID: r.TicketID, Clock: r.toDomain(), Policy: byID[r.PolicyID]}
	}
	return out, nil
}

// TicketSLAs returns the SLA of each of the tenant's tickets that has clocks.
func (s *Conn) TicketSLAs(ctx context.Context, tenantID string, ticketIDs []string) (map[string]*domain.TicketSLA, error) {
	if len(ticketIDs) == 0 {
		return nil, nil
	}
	var rows []clockRow
	if err := s.db.NewSelect().Model(&rows).Where("tenant_id = ? AND ticket_id IN (?)", tenantID, bun.In(ticketIDs)).Scan(ctx); err != nil {
		return nil, err
	}
	out := map[string]*domain.TicketSLA{}
	for i := range rows {
		r := &rows[i]
		t := out[r.TicketID]
		if t == nil {
			t = &domain.TicketSLA{PolicyID: r.PolicyID, Clocks: map[string]*domain.SLAClock{}}
			out[r.TicketID] = t
		}
		t.Clocks[r.Metric] = r.toDomain()
	}
	return out, nil
}
