package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

// Kinds of ticket timers.
const (
	TimerDelay = "delay" // a delay automation's
	TimerSLA   = "sla"   // an SLA clock's warning or target
)

// Timer is an armed timer of a ticket. Its ID is also its Temporal workflow's. Generation
// is new at every (re)arm, from one sequence (so it only grows, also across a disarm and a
// new arm), and only the timer of the current generation fires.
type Timer struct {
	ID           string
	TenantID     string
	TicketID     string
	Kind         string
	AutomationID string // kind delay
	EventType    string // kind delay: the type of the event that armed it
	Generation   int64
	DueAt        time.Time
	ArmedAt      time.Time
	EventID      string // the event that armed it
	// Added says this arm added a timer (rather than re-arming one): it counts against
	// domain.MaxArmedTimersByTenant.
	Added bool
}

// firing is what a timer's outbox event carries besides the ticket as it is when it fires:
// its type and origin, and for a delay the arming event's view.
type firing struct {
	Type       string                        `json:"type"`
	Actor      string                        `json:"actor"`
	Depth      int                           `json:"depth"`
	Chain      []string                      `json:"chain"`
	CausedBy   string                        `json:"caused_by,omitempty"`
	Armed      *domain.ArmingEvent           `json:"armed,omitempty"`
	Automation string                        `json:"automation,omitempty"`
	Previous   *domain.Ticket                `json:"previous,omitempty"`
	Changes    map[string]domain.FieldChange `json:"changes,omitempty"`
	Message    *domain.Message               `json:"message,omitempty"`
	SLA        *domain.SLAMark               `json:"sla,omitempty"`
}

type timerRow struct {
	bun.BaseModel `bun:"table:ticket_timers,alias:tt"`

	ID           string         `bun:"id,pk"`
	TenantID     string         `bun:"tenant_id"`
	TicketID     string         `bun:"ticket_id"`
	Kind         string         `bun:"kind"`
	AutomationID sql.NullString `bun:"automation_id"`
	EventType    sql.NullString `bun:"event_type"`
	Generation   int64          `bun:"generation"`
	DueAt        time.Time      `bun:"due_at"`
	ArmedAt      time.Time      `bun:"armed_at"`
	EventID      sql.NullString `bun:"event_id"`
	Event        firing         `bun:"event,type:jsonb"`
	Synced       bool           `bun:"synced"`
}

func (r *timerRow) toDomain() Timer {
	return Timer{ID: r.ID, TenantID: r.TenantID, TicketID: r.TicketID, Kind: r.Kind, AutomationID: r.AutomationID.String,
		EventType: r.EventType.String, Generation: r.Generation, DueAt: r.DueAt.UTC(), ArmedAt: r.ArmedAt.UTC(), EventID: r.EventID.String}
}

// DelayTimerID is the ID of the timer an automation keeps for a ticket and an event type.
func DelayTimerID(automationID, ticketID, eventType string) string {
	return "delay:" + automationID + ":" + ticketID + ":" + eventType
}

// ArmDelay arms the timer of delay automation a for event ev, due a.Delay after the event
// happened: a new timer, or, if one is armed for the same ticket and event type, the same
// timer re-armed from this event (a.Rearm) or left as it is (then it returns nil). Run it
// in the event's transaction; the timer reaches Temporal after commit (see Synced).
func (s *Conn) ArmDelay(ctx context.Context, a *domain.Automation, ev *domain.TicketEvent) (*Timer, error) {
	return s.armDelay(ctx, a, ev, true)
}

// RearmDelay is ArmDelay for a tenant at its cap of armed timers: it re-arms the timer if
// one is armed (a.Rearm), and adds none. Without one it returns nil.
func (s *Conn) RearmDelay(ctx context.Context, a *domain.Automation, ev *domain.TicketEvent) (*Timer, error) {
	return s.armDelay(ctx, a, ev, false)
}

func (s *Conn) armDelay(ctx context.Context, a *domain.Automation, ev *domain.TicketEvent, mayAdd bool) (*Timer, error) {
	if !mayAdd && !a.Rearm {
		return nil, nil
	}
	chain := ev.Origin.Chain
	if chain == nil {
		chain = []string{}
	}
	row := &timerRow{
		ID: DelayTimerID(a.ID, ev.TicketID, ev.Type), TenantID: ev.TenantID, TicketID: ev.TicketID, Kind: TimerDelay,
		AutomationID: nullString(a.ID), EventType: nullString(ev.Type),
		DueAt: ev.OccurredAt.Add(a.Delay), ArmedAt: now(), EventID: nullString(ev.ID),
		Event: firing{
			Type: domain.EventDelayElapsed, Actor: ev.Origin.Actor, Depth: ev.Origin.Depth, Chain: chain, CausedBy: ev.Origin.CausedBy,
			Armed:      &domain.ArmingEvent{ID: ev.ID, Type: ev.Type, Actor: ev.Origin.Actor, Depth: ev.Origin.Depth, OccurredAt: ev.OccurredAt},
			Automation: a.ID, Previous: ev.Previous, Changes: ev.Changes, Message: ev.Message,
		},
	}
	var out []struct {
		Generation int64 `bun:"generation"`
		Added      bool  `bun:"added"`
	}
	var err error
	if mayAdd {
		q := s.db.NewInsert().Model(row).ExcludeColumn("generation")
		if a.Rearm {
			q = q.On("CONFLICT (id) DO UPDATE").
				Set("generation = nextval('ticket_timers_generation')").Set("due_at = EXCLUDED.due_at").Set("armed_at = EXCLUDED.armed_at").
				Set("event_id = EXCLUDED.event_id").Set("event = EXCLUDED.event").Set("synced = false")
		} else {
			q = q.On("CONFLICT (id) DO NOTHING")
		}
		// xmax is 0 on a row this statement inserted, and set on one it updated.
		err = q.Returning("generation, xmax = 0 AS added").Scan(ctx, &out)
	} else {
		err = s.db.NewUpdate().Model(row).Column("due_at", "armed_at", "event_id", "event").
			Set("generation = nextval('ticket_timers_generation')").Set("synced = false").WherePK().
			Returning("generation, false AS added").Scan(ctx, &out)
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	row.Generation = out[0].Generation
	t := row.toDomain()
	t.Added = out[0].Added
	return &t, nil
}

// TimerArmed reports whether a timer is armed.
func (s *Conn) TimerArmed(ctx context.Context, id string) (bool, error) {
	return s.db.NewSelect().Table("ticket_timers").Where("id = ?", id).Exists(ctx)
}

// CountDelayTimers counts the tenant's armed delay timers, up to limit (it stops there,
// so the count costs at most limit index entries).
func (s *Conn) CountDelayTimers(ctx context.Context, tenantID string, limit int) (int, error) {
	var n int
	err := s.db.NewRaw(`SELECT count(*) FROM (SELECT 1 FROM ticket_timers WHERE tenant_id = ? AND kind = 'delay' LIMIT ?) t`, tenantID, limit).Scan(ctx, &n)
	return n, err
}

// TimerSynced records that Temporal holds generation gen of a timer.
func (s *Conn) TimerSynced(ctx context.Context, id string, gen int64) error {
	_, err := s.db.NewUpdate().Table("ticket_timers").Set("synced = true").Where("id = ? AND generation = ?", id, gen).Exec(ctx)
	return err
}

// SyncTimers calls arm for up to limit timers whose latest (re)arm has not reached
// Temporal, armed at least minAge ago (the arming process goes first), and records those
// it armed. Tenants take turns (every tenant's oldest, then every tenant's second, ...), so
// one tenant's backlog of thousands delays another's arm by one round, not by the
// backlog. Several workers may run it at once: rows are claimed with SKIP LOCKED.
func (s *Conn) SyncTimers(ctx context.Context, minAge time.Duration, limit int, arm func(context.Context, *Timer) error) (int, error) {
	synced := 0
	var armErr error
	err := s.InTx(ctx, func(tx *Conn) error {
		var rows []timerRow
		err := tx.db.NewRaw(`WITH RECURSIVE `+tenantsWithRows("ticket_timers", "NOT synced")+`, c AS (
				SELECT x.id, x.turn, x.tenant_id
				FROM tenants_with tn CROSS JOIN LATERAL (
					SELECT t.id, t.tenant_id, row_number() OVER (ORDER BY t.armed_at, t.id) AS turn
					FROM ticket_timers t
					WHERE t.tenant_id = tn.id AND NOT t.synced AND t.armed_at < ?
					ORDER BY t.armed_at, t.id LIMIT ?) x
				ORDER BY x.turn, x.tenant_id LIMIT ?)
			SELECT t.id, t.tenant_id, t.ticket_id, t.kind, t.automation_id, t.event_type, t.generation, t.due_at, t.armed_at, t.event_id
			FROM ticket_timers t JOIN c ON c.id = t.id
			WHERE NOT t.synced
			ORDER BY c.turn, c.tenant_id
			FOR UPDATE OF t SKIP LOCKED`, now().Add(-minAge), limit, limit).Scan(ctx, &rows)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		for i := range rows {
			t := rows[i].toDomain()
			if armErr = arm(ctx, &t); armErr != nil {
				return nil // keep the marks made so far; the rest waits for the next round
			}
			if err := tx.TimerSynced(ctx, t.ID, t.Generation); err != nil {
				return err
			}
			synced++
		}
		return nil
	})
	return synced, errors.Join(err, armErr)
}

// FireTimer ends generation gen of a timer that came due: if the timer is still armed at
// that generation (not re-armed, nor disarmed by its automation's or policy's change), its
// event enters the outbox, carrying the ticket as it is now, in one transaction; it
// reports whether that happened. A delay timer is then gone. An SLA clock's warning marks
// the clock warned and moves the same timer on to the breach, which it returns as next
// (the workflow waits for it without a signal); a breach marks the clock breached. Calling
// it again is harmless: the generation is used up.
func (s *Conn) FireTimer(ctx context.Context, id string, gen int64) (fired bool, next *Timer, err error) {
	err = s.InTx(ctx, func(tx *Conn) error {
		var rows []timerRow
		if err := tx.db.NewSelect().Model(&rows).Where("id = ? AND generation = ?", id, gen).For("UPDATE").Scan(ctx); err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		r := rows[0]
		drop := func() error {
			_, err := tx.db.NewDelete().Table("ticket_timers").Where("id = ?", r.ID).Exec(ctx)
			return err
		}
		t, err := getTicketRow(ctx, tx.db, r.TenantID, r.TicketID)
		if domain.ErrorCode(err) == domain.ENOTFOUND {
			return drop()
		}
		if err != nil {
			return err
		}
		f := r.Event
		if r.Kind == TimerSLA {
			var ok bool
			if ok, next, err = tx.markClock(ctx, &r); err != nil || !ok {
				return err
			}
			f = r.Event
		}
		if next == nil {
			if err := drop(); err != nil {
				return err
			}
		}
		ev := &eventRow{
			ID: domain.NewID(domain.PrefixEvent), TenantID: r.TenantID, TicketID: r.TicketID, Type: f.Type,
			Actor: f.Actor, Depth: max(f.Depth, 1), Chain: f.Chain, CausedBy: nullString(f.CausedBy),
			Payload: eventPayload{Ticket: t.toDomain(), Previous: f.Previous, Changes: f.Changes, Message: f.Message,
				Armed: f.Armed, Automation: f.Automation, SLA: f.SLA},
			OccurredAt: now(),
		}
		if ev.Chain == nil {
			ev.Chain = []string{}
		}
		if ev.Payload.Changes == nil {
			ev.Payload.Changes = map[string]domain.FieldChange{}
		}
		if _, err := tx.db.NewInsert().Model(ev).Exec(ctx); err != nil {
			return err
		}
		tx.AfterCommit(ctx, func(context.Context) { s.root.notifyEvents() })
		fired = true
		return nil
	})
	if err != nil {
		return false, nil, err
	}
	return fired, next, nil
}

// markClock records that an SLA timer's mark was reached on its clock: warned, or
// breached. After a warning, a clock still running moves the timer on to its breach
// (returned as next). ok is false when the clock is gone (the timer is dropped).
func (tx *Conn) markClock(ctx context.Context, r *timerRow) (ok bool, next *Timer, err error) {
	metric := r.Event.SLA.Metric
	var clocks []clockRow
	if err := tx.db.NewSelect().Model(&clocks).Where("ticket_id = ? AND metric = ?", r.TicketID, metric).For("UPDATE").Scan(ctx); err != nil {
		return false, nil, err
	}
	if len(clocks) == 0 {
		_, err := tx.db.NewDelete().Table("ticket_timers").Where("id = ?", r.ID).Exec(ctx)
		return false, nil, err
	}
	c := clocks[0]
	q := tx.db.NewUpdate().Table("ticket_slas").Where("ticket_id = ? AND metric = ?", r.TicketID, metric)
	if r.Event.Type == domain.EventSLAWarning {
		q = q.Set("warned = true")
	} else {
		q = q.Set("breached_at = coalesce(breached_at, ?)", r.DueAt)
	}
	if _, err := q.Exec(ctx); err != nil {
		return false, nil, err
	}
	if c.DueAt != nil {
		r.Event.SLA.DueAt = c.DueAt.UTC()
	}
	if r.Event.Type != domain.EventSLAWarning || c.RunningSince == nil || c.BreachedAt != nil || c.DueAt == nil {
		return true, nil, nil
	}
	breach := *r
	if err := tx.db.NewRaw("SELECT nextval('ticket_timers_generation')").Scan(ctx, &breach.Generation); err != nil {
		return false, nil, err
	}
	breach.DueAt, breach.ArmedAt, breach.Synced = c.DueAt.UTC(), now(), true
	breach.Event.Type = domain.EventSLABreached
	breach.Event.SLA = &domain.SLAMark{PolicyID: r.Event.SLA.PolicyID, Metric: metric, DueAt: c.DueAt.UTC()}
	if _, err := tx.db.NewUpdate().Model(&breach).WherePK().Exec(ctx); err != nil {
		return false, nil, err
	}
	t := breach.toDomain()
	return true, &t, nil
}

// NextTimerGeneration returns a generation newer than every timer's so far: a disarm
// signalled with it ends the timers armed before it, and no later arm.
func (s *Conn) NextTimerGeneration(ctx context.Context) (int64, error) {
	var g int64
	err := s.db.NewRaw("SELECT nextval('ticket_timers_generation')").Scan(ctx, &g)
	return g, err
}

// TimerCursor is a position in a timer listing (due_at, id).
type TimerCursor struct {
	DueAt time.Time
	ID    string
}

// ListTimers returns an automation's armed timers, soonest due first. ENOTFOUND for an
// automation the tenant does not have.
func (s *Conn) ListTimers(ctx context.Context, tenantID, automationID string, after *TimerCursor, limit int) ([]Timer, bool, error) {
	if _, err := s.GetAutomation(ctx, tenantID, automationID); err != nil {
		return nil, false, err
	}
	var rows []timerRow
	q := s.db.NewSelect().Model(&rows).Column("id", "tenant_id", "ticket_id", "kind", "automation_id", "event_type", "generation", "due_at", "armed_at", "event_id").
		Where("automation_id = ? AND tenant_id = ?", automationID, tenantID)
	if after != nil {
		q = q.Where("(due_at, id) > (?, ?)", after.DueAt, after.ID)
	}
	if err := q.OrderExpr("due_at, id").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, false, err
	}
	out, more := pageOf(rows, limit, (*timerRow).toDomain)
	return out, more, nil
}
