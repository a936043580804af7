package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

// A destination's slots and circuit (domain.Circuit is the state machine these statements
// apply, held to it by TestDestinationStateMachineMatchesTheDomain): an attempt takes a
// slot as it starts (StartAttempt), waits in its destination's line when there is none, and
// gives it back when its outcome is recorded (RecordAttempt, through circuitUpdate).

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

// startAttempt is one try of StartAttempt (domain.Circuit.Admit in SQL); an attempt that
// gets a slot leaves the line.
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

// circuitUpdate is the upsert of a destination after an attempt's outcome is first
// recorded (l, the attempt log's upsert, returned it), domain.Circuit.Record in SQL: the attempt's slot is given back; a
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
