package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"

	"github.com/threada/threada/internal/domain"
)

type actionRow struct {
	bun.BaseModel `bun:"table:actions"`

	ID              string                   `bun:"id,pk"`
	TenantID        string                   `bun:"tenant_id"`
	TicketID        string                   `bun:"ticket_id"`
	ActionType      string                   `bun:"action_type"`
	Status          string                   `bun:"status"`
	RequestedBy     string                   `bun:"requested_by"`
	Payload         domain.CustomHTTPPayload `bun:"payload,type:jsonb"`
	Request         domain.ActionRequest     `bun:"request,type:jsonb"`
	Attempts        int                      `bun:"attempts"`
	NextAttemptAt   *time.Time               `bun:"next_attempt_at"`
	LastError       sql.NullString           `bun:"last_error"`
	CanceledReason  sql.NullString           `bun:"canceled_reason"`
	ReplayOf        sql.NullString           `bun:"replay_of"`
	ReplayBatchID   sql.NullString           `bun:"replay_batch_id"` // the bulk replay that made it, if one did
	Response        *domain.ActionResponse   `bun:"response,type:jsonb"`
	WorkflowStarted bool                     `bun:"workflow_started"`
	Origin          string                   `bun:"origin"`
	CreatedAt       time.Time                `bun:"created_at"`
	UpdatedAt       time.Time                `bun:"updated_at"`
	CompletedAt     *time.Time               `bun:"completed_at"`
}

func (r *actionRow) toDomain() *domain.Action {
	utc := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		u := t.UTC()
		return &u
	}
	return &domain.Action{
		ID: r.ID, TenantID: r.TenantID, TicketID: r.TicketID, Type: r.ActionType, Status: r.Status,
		RequestedBy: r.RequestedBy, Payload: r.Payload, Request: r.Request, Attempts: r.Attempts,
		NextAttemptAt: utc(r.NextAttemptAt), LastError: r.LastError.String, CanceledReason: r.CanceledReason.String, ReplayOf: r.ReplayOf.String, Response: r.Response,
		Origin: r.Origin, Started: r.WorkflowStarted, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), CompletedAt: utc(r.CompletedAt),
	}
}

// nonTerminal is the SQL condition an update of a live action carries, so nothing
// overwrites an outcome once recorded.
const nonTerminal = "status IN ('queued', 'running', 'retrying')"

// CreateAction stores a new queued action for a ticket of the tenant, filling its times,
// in one statement (its foreign key is the check that the tenant has the ticket:
// ENOTFOUND otherwise). The caller chooses the ID, which is also the workflow ID.
func (s *Conn) CreateAction(ctx context.Context, a *domain.Action) error {
	_, err := s.db.NewInsert().Model(newActionRow(a)).Exec(ctx)
	var pgErr pgdriver.Error
	if errors.As(err, &pgErr) && pgErr.Field('C') == "23503" {
		return domain.Errorf(domain.ENOTFOUND, "No ticket %s exists.", a.TicketID)
	}
	return wrapErr(err, "")
}

// newActionRow is the row of a new queued action; it fills a's status and times.
func newActionRow(a *domain.Action) *actionRow {
	a.CreatedAt, a.UpdatedAt = now(), now()
	a.Status = domain.ActionQueued
	if a.Origin == "" {
		a.Origin = domain.OriginAPI
	}
	return &actionRow{
		ID: a.ID, TenantID: a.TenantID, TicketID: a.TicketID, ActionType: a.Type, Status: a.Status,
		RequestedBy: a.RequestedBy, Payload: a.Payload, Request: a.Request, WorkflowStarted: a.Started,
		ReplayOf: nullString(a.ReplayOf), Origin: a.Origin, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
}

// GetAction returns one action of the tenant.
func (s *Conn) GetAction(ctx context.Context, tenantID, actionID string) (*domain.Action, error) {
	row := new(actionRow)
	err := s.db.NewSelect().Model(row).Where("id = ? AND tenant_id = ?", actionID, tenantID).Scan(ctx)
	if err != nil {
		return nil, wrapErr(err, "No action "+actionID+" exists.")
	}
	return row.toDomain(), nil
}

// ActionByID returns an action whatever its tenant, for the worker. ENOTFOUND.
func (s *Conn) ActionByID(ctx context.Context, actionID string) (*domain.Action, error) {
	row := new(actionRow)
	if err := s.db.NewSelect().Model(row).Where("id = ?", actionID).Scan(ctx); err != nil {
		return nil, wrapErr(err, "No action "+actionID+" exists.")
	}
	return row.toDomain(), nil
}

// ListActions returns a ticket's actions, newest first, after the cursor.
func (s *Conn) ListActions(ctx context.Context, tenantID, ticketID string, after *domain.ActionCursor, limit int) ([]domain.Action, bool, error) {
	db := s.db
	if err := s.CheckTicket(ctx, tenantID, ticketID); err != nil {
		return nil, false, err
	}
	var rows []actionRow
	q := db.NewSelect().Model(&rows).Where("ticket_id = ? AND tenant_id = ?", ticketID, tenantID)
	if after != nil {
		q = q.Where("(created_at, id) < (?, ?)", after.CreatedAt, after.ID)
	}
	if err := q.OrderExpr("created_at DESC, id DESC").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, false, err
	}
	out, more := pageOf(rows, limit, func(r *actionRow) domain.Action { return *r.toDomain() })
	return out, more, nil
}

// AttemptStart is what StartAttempt found.
type AttemptStart struct {
	Action *domain.Action
	Live   bool // not terminal: the attempt may be made
	// WaitUntil is set when the attempt must wait, uncounted and unrecorded: its
	// destination's circuit is open and it is not the probe, or the destination already has
	// its limit of attempts in flight. Why says which.
	WaitUntil *time.Time
	Why       string
	// InLine says the attempt waits in its destination's line (WaitBusy): the attempt that
	// next gives a slot back wakes it (see WakeWaiter), WaitUntil is only a fallback.
	InLine bool
}

// Reasons an attempt waits.
const (
	WaitCircuitOpen = "the destination's circuit is open (its last attempts failed); this attempt waits for the next probe"
	WaitBusy        = "the destination has as many attempts in flight as it may; this attempt waits for one to end"
)

// maxAttemptAge bounds how long an attempt can be in flight (the largest timeout_ms plus
// the workflow's grace); one older than it is dead and holds no slot.
const maxAttemptAge = 70 * time.Second

// StartAttempt returns the action attempt n is about to run and whether it is still live
// (a terminal one, canceled meanwhile, must not be called), and takes a slot of its
// destination: at most limit attempts to it are in flight at once, across all workers, and
// while its circuit is open only one attempt every CircuitProbeInterval (the probe) goes
// through. In the same statement it records the attempt as in flight (again, if it is tried
// again after its preparation failed or it waited). An attempt that finds no free slot
// gets in its destination's line (InLine) and asks once more, so a slot given back
// meanwhile is not missed. ENOTFOUND when the action does not exist.
func (s *Conn) StartAttempt(ctx context.Context, actionID string, attempt int, destination string, limit int) (*AttemptStart, error) {
	st, err := s.startAttempt(ctx, actionID, attempt, destination, limit)
	if err != nil || st.Why != WaitBusy {
		return st, err
	}
	if _, err := s.db.NewRaw(`INSERT INTO destination_waiters (action_id, tenant_id, destination, since) VALUES (?, ?, ?, ?)
		ON CONFLICT (action_id) DO NOTHING`, actionID, st.Action.TenantID, destination, now()).Exec(ctx); err != nil {
		return nil, err
	}
	if err := s.recountInFlight(ctx, st.Action.TenantID, destination); err != nil {
		return nil, err
	}
	if st, err = s.startAttempt(ctx, actionID, attempt, destination, limit); err != nil || st.Why != WaitBusy {
		return st, err
	}
	until := now().Add(domain.DestinationLineWait)
	st.WaitUntil, st.InLine = &until, true
	return st, nil
}

// startAttempt is one try of StartAttempt; an attempt that gets a slot leaves the line.
func (s *Conn) startAttempt(ctx context.Context, actionID string, attempt int, destination string, limit int) (*AttemptStart, error) {
	var row struct {
		actionRow `bun:",extend"`
		MaySend   bool           `bun:"may_send,scanonly"`
		State     sql.NullString `bun:"circuit,scanonly"`
		NextProbe *time.Time     `bun:"next_probe,scanonly"`
	}
	at := now()
	err := s.db.NewRaw(`WITH a AS (SELECT * FROM actions WHERE id = ?),
		d AS (SELECT d.state, d.next_probe_at FROM destinations d, a WHERE d.tenant_id = a.tenant_id AND d.destination = ?),
		slot AS (
			INSERT INTO destinations AS d (tenant_id, destination, in_flight, last_attempt_at)
			SELECT a.tenant_id, ?, 1, ? FROM a WHERE a.`+nonTerminal+`
			ON CONFLICT (tenant_id, destination) DO UPDATE SET
				in_flight = d.in_flight + 1,
				next_probe_at = CASE WHEN d.state = 'open' THEN ? ELSE d.next_probe_at END
			WHERE d.in_flight < ? AND (d.state = 'closed' OR d.next_probe_at <= ?)
			RETURNING 1),
		started AS (
			INSERT INTO action_attempts (action_id, attempt, tenant_id, started_at, destination)
			SELECT a.id, ?, a.tenant_id, ?, ? FROM a WHERE EXISTS (SELECT 1 FROM slot)
			ON CONFLICT (action_id, attempt) DO UPDATE SET started_at = EXCLUDED.started_at
			WHERE action_attempts.completed_at IS NULL),
		served AS (DELETE FROM destination_waiters WHERE action_id = ? AND EXISTS (SELECT 1 FROM slot))
		SELECT a.*, EXISTS (SELECT 1 FROM slot) AS may_send, d.state AS circuit, d.next_probe_at AS next_probe
		FROM a LEFT JOIN d ON true`,
		actionID, destination,
		destination, at, at.Add(domain.CircuitProbeInterval), limit, at,
		attempt, at, destination, actionID).Scan(ctx, &row)
	if err != nil {
		return nil, wrapErr(err, "No action "+actionID+" exists.")
	}
	st := &AttemptStart{Action: row.toDomain()}
	st.Live = !domain.ActionTerminal(st.Action.Status)
	if !st.Live || row.MaySend {
		return st, nil
	}
	if row.State.String == domain.DestinationOpen && row.NextProbe != nil && row.NextProbe.After(at) {
		until := row.NextProbe.UTC()
		st.WaitUntil, st.Why = &until, WaitCircuitOpen
		return st, nil
	}
	st.Why = WaitBusy
	return st, nil
}

// WakeWaiter takes the oldest attempt waiting in the line of the destination an attempt
// of actionID just gave its slot back to, and returns its action (its workflow is to be
// woken), or "" when none waits. Several workers may call it at once: each takes another.
func (s *Conn) WakeWaiter(ctx context.Context, actionID, destination string) (string, error) {
	var woken []string
	err := s.db.NewRaw(`DELETE FROM destination_waiters w USING (
			SELECT x.action_id FROM destination_waiters x, actions a
			WHERE a.id = ? AND x.tenant_id = a.tenant_id AND x.destination = ?
			ORDER BY x.since, x.action_id LIMIT 1 FOR UPDATE OF x SKIP LOCKED) next
		WHERE w.action_id = next.action_id RETURNING w.action_id`, actionID, destination).Scan(ctx, &woken)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	if len(woken) == 0 {
		return "", nil
	}
	return woken[0], nil
}

// LeaveLine takes an action out of its destination's line (its run ended while it waited).
func (s *Conn) LeaveLine(ctx context.Context, actionID string) error {
	_, err := s.db.NewDelete().Table("destination_waiters").Where("action_id = ?", actionID).Exec(ctx)
	return err
}

// recountInFlight sets a destination's count of attempts in flight from the attempts
// recorded as such, leaving out those older than any attempt can run: a worker that died
// mid-attempt gives its slot back this way.
func (s *Conn) recountInFlight(ctx context.Context, tenantID, destination string) error {
	_, err := s.db.NewRaw(`UPDATE destinations SET in_flight = (
			SELECT count(*) FROM action_attempts
			WHERE tenant_id = ? AND destination = ? AND completed_at IS NULL AND started_at > ?)
		WHERE tenant_id = ? AND destination = ?`,
		tenantID, destination, now().Add(-maxAttemptAge), tenantID, destination).Exec(ctx)
	return err
}

// AttemptResult is what one attempt recorded.
type AttemptResult struct {
	Attempt int // the attempt's number; 0 for an outcome that is no attempt's (a cancel)
	// Destination, when set, is where the attempt went; DestinationFailed says whether it
	// counts as a failure of the destination (network error, timeout, 5xx) for its circuit.
	Destination       string
	DestinationFailed bool
	Status            string // the action's: retrying, or a terminal status
	Outcome           string // the attempt's (domain.Attempt*); "" for a cancel
	StartedAt         time.Time
	LastError         string // the attempt's error; for a cancel, the canceled_reason
	Response          *domain.ActionResponse
	NextAttemptAt     *time.Time
}

// RecordAttempt stores an attempt's outcome in its attempt log, and on the action unless
// the action is already terminal (a cancel may have won the race) or already holds this
// attempt or a later one; it reports whether the action changed. Recording an attempt is
// thus idempotent, and a late record of an older attempt never overwrites a newer one:
// the workflow may retry a record for as long as PostgreSQL is unreachable. A cancel
// (Attempt 0) keeps the last attempt's error, adds its reason, and ends an attempt still
// in flight as canceled; an attempt's own outcome, if it comes later, replaces that.
func (s *Conn) RecordAttempt(ctx context.Context, actionID string, r AttemptResult) (bool, error) {
	at := now()
	q := s.db.NewUpdate().Table("actions").
		Set("status = ?", r.Status).
		Set("next_attempt_at = ?", r.NextAttemptAt).
		Set("updated_at = ?", at).
		Where("id = ? AND "+nonTerminal, actionID).
		Returning("id")
	if r.Attempt == 0 && r.Status == domain.ActionCanceled {
		q = q.Set("canceled_reason = ?", nullString(r.LastError))
	} else {
		q = q.Set("last_error = ?", nullString(r.LastError))
	}
	if r.Response != nil {
		q = q.Set("response = ?", r.Response)
	}
	if r.Attempt > 0 {
		q = q.Set("attempts = ?", r.Attempt).Set("workflow_started = true").Where("attempts < ?", r.Attempt)
	}
	if domain.ActionTerminal(r.Status) {
		q = q.Set("completed_at = ?", at)
	}
	var logged *bun.RawQuery
	switch {
	case r.Attempt > 0:
		started := r.StartedAt
		if started.IsZero() {
			started = at
		}
		if r.Outcome == "" { // a record made without one (older runs): the status says it
			r.Outcome = map[string]string{domain.ActionSucceeded: domain.AttemptSucceeded, domain.ActionTimedOut: domain.AttemptTimedOut,
				domain.ActionCanceled: domain.AttemptCanceled}[r.Status]
			if r.Outcome == "" {
				r.Outcome = domain.AttemptFailed
			}
		}
		logged = s.db.NewRaw(`INSERT INTO action_attempts (action_id, attempt, tenant_id, started_at, completed_at, outcome, error, response, next_attempt_at, destination)
			SELECT id, ?, tenant_id, ?, ?, ?, ?, ?::jsonb, ?, ? FROM actions WHERE id = ?
			ON CONFLICT (action_id, attempt) DO UPDATE SET completed_at = EXCLUDED.completed_at, outcome = EXCLUDED.outcome,
				error = EXCLUDED.error, response = EXCLUDED.response, next_attempt_at = EXCLUDED.next_attempt_at,
				destination = coalesce(action_attempts.destination, EXCLUDED.destination)
			WHERE action_attempts.completed_at IS NULL OR action_attempts.outcome = ?
			RETURNING (xmax <> 0) AS held_slot`,
			r.Attempt, started, at, r.Outcome, nullString(r.LastError), r.Response, r.NextAttemptAt, nullString(r.Destination), actionID, domain.AttemptCanceled)
	case r.Status == domain.ActionCanceled:
		logged = s.db.NewRaw(`UPDATE action_attempts SET completed_at = ?, outcome = ? WHERE action_id = ? AND completed_at IS NULL`,
			at, domain.AttemptCanceled, actionID)
	}
	with, args := "WITH a AS (?)", []any{q}
	if logged != nil {
		with, args = with+", l AS (?)", append(args, logged)
	}
	circuit := r.Attempt > 0 && r.Destination != ""
	if circuit {
		with, args = with+", c AS (?)", append(args, s.circuitUpdate(actionID, r.Destination, r.DestinationFailed, at))
	}
	var rows []struct {
		ID      sql.NullString `bun:"id"`
		Changed sql.NullString `bun:"changed"`
	}
	sel := "SELECT id, NULL AS changed FROM a"
	if circuit {
		sel += " UNION ALL SELECT NULL, state FROM c WHERE state_changed_at = ?"
		args = append(args, at)
	}
	if err := s.db.NewRaw(with+" "+sel, args...).Scan(ctx, &rows); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	changed := false
	for _, row := range rows {
		switch {
		case row.ID.Valid:
			changed = true
		case row.Changed.Valid:
			if err := s.auditCircuit(ctx, actionID, r.Destination, row.Changed.String); err != nil {
				return changed, err
			}
		}
	}
	return changed, nil
}

// circuitUpdate is the upsert of a destination after an attempt's outcome is first
// recorded (l, the attempt log's upsert, returned it): the attempt's slot is given back; a
// failure adds one to the consecutive failures and opens the circuit at CircuitFailures
// (first probe after CircuitProbeInterval); an answer resets the count and closes it.
// state_changed_at tells a transition. An outcome recorded twice counts once.
func (s *Conn) circuitUpdate(actionID, destination string, failed bool, at time.Time) *bun.RawQuery {
	return s.db.NewRaw(`INSERT INTO destinations AS d (tenant_id, destination, consecutive_failures, last_attempt_at, state_changed_at)
		SELECT tenant_id, ?, CASE WHEN ? THEN 1 ELSE 0 END, ?, NULL FROM actions WHERE id = ? AND EXISTS (SELECT 1 FROM l)
		ON CONFLICT (tenant_id, destination) DO UPDATE SET
			in_flight = greatest(d.in_flight - (SELECT count(*) FROM l WHERE l.held_slot), 0),
			consecutive_failures = CASE WHEN ? THEN d.consecutive_failures + 1 ELSE 0 END,
			state = CASE WHEN NOT ? THEN 'closed' WHEN d.consecutive_failures + 1 >= ? THEN 'open' ELSE d.state END,
			opened_at = CASE WHEN NOT ? THEN NULL WHEN d.state = 'closed' AND d.consecutive_failures + 1 >= ? THEN ? ELSE d.opened_at END,
			next_probe_at = CASE WHEN NOT ? THEN NULL WHEN d.state = 'closed' AND d.consecutive_failures + 1 >= ? THEN ? ELSE d.next_probe_at END,
			state_changed_at = CASE WHEN (? AND d.state = 'closed' AND d.consecutive_failures + 1 >= ?) OR (NOT ? AND d.state = 'open') THEN ? ELSE d.state_changed_at END,
			last_attempt_at = ?
		RETURNING d.state, d.state_changed_at`,
		destination, failed, at, actionID,
		failed,
		failed, domain.CircuitFailures,
		failed, domain.CircuitFailures, at,
		failed, domain.CircuitFailures, at.Add(domain.CircuitProbeInterval),
		failed, domain.CircuitFailures, failed, at,
		at)
}

// auditCircuit records a destination's circuit opening or closing in its tenant's audit log.
func (s *Conn) auditCircuit(ctx context.Context, actionID, destination, state string) error {
	var tenantID string
	if err := s.db.NewSelect().Table("actions").Column("tenant_id").Where("id = ?", actionID).Scan(ctx, &tenantID); err != nil {
		return err
	}
	action := "destination.closed"
	if state == domain.DestinationOpen {
		action = "destination.opened"
	}
	return s.RecordAudit(ctx, domain.AuditEvent{TenantID: tenantID, Actor: "system", Action: action, Target: destination,
		After: map[string]any{"state": state, "action_id": actionID}})
}

// ListDestinations returns the destinations a tenant's actions called in the last 7 days,
// by name after the cursor, with their circuit and their figures over the last 5 minutes,
// and whether more follow.
func (s *Conn) ListDestinations(ctx context.Context, tenantID, after string, limit int) ([]domain.DestinationHealth, bool, error) {
	var rows []struct {
		Destination         string     `bun:"destination"`
		State               string     `bun:"state"`
		ConsecutiveFailures int        `bun:"consecutive_failures"`
		OpenedAt            *time.Time `bun:"opened_at"`
		NextProbeAt         *time.Time `bun:"next_probe_at"`
		LastAttemptAt       time.Time  `bun:"last_attempt_at"`
		Attempts            int        `bun:"attempts"`
		Succeeded           int        `bun:"succeeded"`
		P50                 *float64   `bun:"p50"`
	}
	at := now()
	err := s.db.NewRaw(`SELECT d.destination, d.state, d.consecutive_failures, d.opened_at, d.next_probe_at, d.last_attempt_at,
			s.attempts, s.succeeded, s.p50
		FROM destinations d
		LEFT JOIN LATERAL (
			SELECT count(*) AS attempts, count(*) FILTER (WHERE a.outcome = 'succeeded') AS succeeded,
				percentile_cont(0.5) WITHIN GROUP (ORDER BY (a.response->>'duration_ms')::float8) AS p50
			FROM action_attempts a
			WHERE a.tenant_id = d.tenant_id AND a.destination = d.destination AND a.completed_at > ?
		) s ON true
		WHERE d.tenant_id = ? AND d.last_attempt_at > ? AND d.destination > ?
		ORDER BY d.destination LIMIT ?`,
		at.Add(-5*time.Minute), tenantID, at.Add(-7*24*time.Hour), after, limit+1).Scan(ctx, &rows)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, false, err
	}
	out := make([]domain.DestinationHealth, len(rows))
	for i, r := range rows {
		out[i] = domain.DestinationHealth{Destination: r.Destination, State: r.State, ConsecutiveFailures: r.ConsecutiveFailures,
			OpenedAt: r.OpenedAt, NextProbeAt: r.NextProbeAt, LastAttemptAt: r.LastAttemptAt.UTC(),
			Attempts: r.Attempts, Succeeded: r.Succeeded, P50LatencyMS: r.P50}
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// ListAttempts returns an action's attempts after attempt number after, oldest first, and
// whether more follow. ENOTFOUND unless the tenant has the action.
func (s *Conn) ListAttempts(ctx context.Context, tenantID, actionID string, after, limit int) ([]domain.ActionAttempt, bool, error) {
	if _, err := s.GetAction(ctx, tenantID, actionID); err != nil {
		return nil, false, err
	}
	var rows []attemptRow
	if err := s.db.NewSelect().Model(&rows).Where("action_id = ? AND tenant_id = ? AND attempt > ?", actionID, tenantID, after).
		OrderExpr("attempt").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, false, err
	}
	out, more := pageOf(rows, limit, (*attemptRow).toDomain)
	return out, more, nil
}

type attemptRow struct {
	bun.BaseModel `bun:"table:action_attempts"`

	ActionID      string                 `bun:"action_id,pk"`
	Attempt       int                    `bun:"attempt,pk"`
	TenantID      string                 `bun:"tenant_id"`
	StartedAt     time.Time              `bun:"started_at"`
	CompletedAt   *time.Time             `bun:"completed_at"`
	Outcome       sql.NullString         `bun:"outcome"`
	Error         sql.NullString         `bun:"error"`
	Response      *domain.ActionResponse `bun:"response,type:jsonb"`
	NextAttemptAt *time.Time             `bun:"next_attempt_at"`
}

func (r *attemptRow) toDomain() domain.ActionAttempt {
	utc := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		u := t.UTC()
		return &u
	}
	return domain.ActionAttempt{
		ActionID: r.ActionID, Attempt: r.Attempt, StartedAt: r.StartedAt.UTC(), CompletedAt: utc(r.CompletedAt),
		Outcome: r.Outcome.String, Error: r.Error.String, Response: r.Response, NextAttemptAt: utc(r.NextAttemptAt),
	}
}

// MarkStarted records that an action's workflow exists in Temporal.
func (s *Conn) MarkStarted(ctx context.Context, actionID string) error {
	_, err := s.db.NewUpdate().Table("actions").Set("workflow_started = true").Where("id = ?", actionID).Exec(ctx)
	return err
}

// CancelUnstarted cancels a queued action whose workflow was never started, and reports
// whether it did; a started one must be canceled through Temporal.
func (s *Conn) CancelUnstarted(ctx context.Context, tenantID, actionID string) (bool, error) {
	at := now()
	res, err := s.db.NewUpdate().Table("actions").
		Set("status = ?", domain.ActionCanceled).
		Set("canceled_reason = ?", "canceled before it started").
		Set("updated_at = ?", at).
		Set("completed_at = ?", at).
		Where("id = ? AND tenant_id = ? AND status = ? AND NOT workflow_started", actionID, tenantID, domain.ActionQueued).
		Exec(ctx)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// StartUnstarted calls start for queued actions whose workflow the API could not start
// (Temporal unreachable, or a crash between commit and start) and that are older than
// minAge, marking each started when start succeeds. Tenants take turns (every tenant's
// oldest, then every tenant's second, ...), so one tenant's backlog does not hold back
// another's. Rows are locked with SKIP LOCKED, so several relays share the work without
// starting one twice at once. It returns how many it started.
func (s *Conn) StartUnstarted(ctx context.Context, minAge time.Duration, limit int, start func(context.Context, *domain.Action) error) (int, error) {
	started := 0
	var startErr error
	err := s.InTx(ctx, func(tx *Conn) error {
		var rows []actionRow
		err := tx.db.NewRaw(`WITH RECURSIVE `+tenantsWithRows("actions", "NOT workflow_started AND status = 'queued'")+`, c AS (
				SELECT x.id, x.turn, x.tenant_id
				FROM tenants_with tn CROSS JOIN LATERAL (
					SELECT a.id, a.tenant_id, row_number() OVER (ORDER BY a.created_at, a.id) AS turn
					FROM actions a
					WHERE a.tenant_id = tn.id AND NOT a.workflow_started AND a.status = ? AND a.created_at < ?
					ORDER BY a.created_at, a.id LIMIT ?) x
				ORDER BY x.turn, x.tenant_id LIMIT ?)
			SELECT a.* FROM actions a JOIN c ON c.id = a.id
			WHERE NOT a.workflow_started AND a.status = ?
			ORDER BY c.turn, c.tenant_id
			FOR UPDATE OF a SKIP LOCKED`,
			domain.ActionQueued, now().Add(-minAge), limit, limit, domain.ActionQueued).Scan(ctx, &rows)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		for i := range rows {
			if startErr = start(ctx, rows[i].toDomain()); startErr != nil {
				return nil // keep the marks made so far; the rest waits for the next round
			}
			if _, err := tx.db.NewUpdate().Table("actions").Set("workflow_started = true").Where("id = ?", rows[i].ID).Exec(ctx); err != nil {
				return err
			}
			started++
		}
		return nil
	})
	return started, errors.Join(err, startErr)
}
