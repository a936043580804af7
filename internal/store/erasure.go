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

type erasureRow struct {
	bun.BaseModel `bun:"table:erasures"`

	ID             string           `bun:"id,pk"`
	TenantID       string           `bun:"tenant_id"`
	SubjectKind    string           `bun:"subject_kind"`
	SubjectHash    string           `bun:"subject_hash"`
	Pattern        sql.NullString   `bun:"pattern"`
	Status         string           `bun:"status"`
	Cursor         string           `bun:"cursor"`
	WaitingActions []string         `bun:"waiting_actions,array"`
	Counts         map[string]int64 `bun:"counts,type:jsonb"`
	RequestedBy    string           `bun:"requested_by"`
	CreatedAt      time.Time        `bun:"created_at"`
	UpdatedAt      time.Time        `bun:"updated_at"`
	CompletedAt    *time.Time       `bun:"completed_at"`
}

func (r *erasureRow) toDomain() *domain.Erasure {
	counts := r.Counts
	if counts == nil {
		counts = map[string]int64{}
	}
	return &domain.Erasure{ID: r.ID, TenantID: r.TenantID, SubjectKind: r.SubjectKind, SubjectHash: r.SubjectHash, Status: r.Status,
		RequestedBy: r.RequestedBy, Counts: counts, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), CompletedAt: utcPtr(r.CompletedAt)}
}

// CreateErasure stores a running erasure of subject from the tenant's records; the worker
// carries it out (StepErasure).
func (s *Conn) CreateErasure(ctx context.Context, tenantID string, subj domain.ErasureSubject, requestedBy string) (*domain.Erasure, error) {
	at := now()
	row := &erasureRow{ID: domain.NewID(domain.PrefixErasure), TenantID: tenantID, SubjectKind: subj.Kind, SubjectHash: subj.Hash(tenantID),
		Pattern: sql.NullString{String: subj.Pattern(), Valid: true}, Status: domain.ErasureRunning, WaitingActions: []string{},
		Counts: map[string]int64{}, RequestedBy: requestedBy, CreatedAt: at, UpdatedAt: at}
	if _, err := s.db.NewInsert().Model(row).Exec(ctx); err != nil {
		return nil, err
	}
	s.AfterCommit(ctx, func(ctx context.Context) { s.root.notifyEvents() }) // wakes a worker
	return row.toDomain(), nil
}

// GetErasure returns one of the tenant's erasures. ENOTFOUND.
func (s *Conn) GetErasure(ctx context.Context, tenantID, id string) (*domain.Erasure, error) {
	row := new(erasureRow)
	err := s.db.NewSelect().Model(row).Where("id = ? AND tenant_id = ?", id, tenantID).Scan(ctx)
	if err != nil {
		return nil, wrapErr(err, "No erasure "+id+" exists.")
	}
	return row.toDomain(), nil
}

// erasureBatch is how many tickets one step of an erasure searches, with every row about
// them, in one transaction.
const erasureBatch = 200

// StepErasure takes an open erasure (of any tenant; one another worker holds is passed
// over) one step further, in one transaction: the next batch of the tenant's tickets, or,
// once all were searched, the actions it waits for that have ended. Running erasures come
// first, then the waiting one that was looked at longest ago. It reports whether the step
// got anywhere: false when there was none, or the one it took was still waiting.
func (s *Store) StepErasure(ctx context.Context) (bool, error) {
	stepped := false
	err := s.InTx(ctx, func(tx *Conn) error {
		row := new(erasureRow)
		err := tx.db.NewSelect().Model(row).Where("status <> ?", domain.ErasureCompleted).
			OrderExpr("status = ?, updated_at", domain.ErasureWaiting).Limit(1).For("UPDATE SKIP LOCKED").Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		stepped = row.Status == domain.ErasureRunning
		e := eraser{tx: tx, tenant: row.TenantID, pattern: row.Pattern.String, counts: row.Counts}
		if e.counts == nil {
			e.counts = map[string]int64{}
		}
		switch row.Status {
		case domain.ErasureRunning:
			if row.Cursor == "" {
				if err := e.idempotencyKeys(ctx); err != nil {
					return err
				}
			}
			var ids []string
			if err := tx.db.NewSelect().Table("tickets").Column("id").Where("tenant_id = ? AND id > ?", row.TenantID, row.Cursor).
				OrderExpr("id").Limit(erasureBatch).Scan(ctx, &ids); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if len(ids) > 0 {
				running, err := e.tickets(ctx, ids)
				if err != nil {
					return err
				}
				row.WaitingActions = append(row.WaitingActions, running...)
				row.Cursor = ids[len(ids)-1]
			}
			if len(ids) < erasureBatch {
				row.Status = domain.ErasureWaiting
			}
		case domain.ErasureWaiting:
			var ended []string
			if err := tx.db.NewSelect().Table("actions").Column("id").
				Where("id IN (?) AND status IN (?)", bun.In(append(row.WaitingActions, "")), bun.In(domain.TerminalActionStatuses)).
				Scan(ctx, &ended); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			var live []string
			if err := tx.db.NewSelect().Table("actions").Column("id").
				Where("id IN (?) AND status NOT IN (?)", bun.In(append(row.WaitingActions, "")), bun.In(domain.TerminalActionStatuses)).
				Scan(ctx, &live); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if len(ended) > 0 {
				if err := e.actions(ctx, "id IN (?)", bun.In(ended)); err != nil {
					return err
				}
			}
			stepped = len(live) < len(row.WaitingActions)
			row.WaitingActions = live // an action deleted meanwhile took its data with it
		}
		if row.Status == domain.ErasureWaiting && len(row.WaitingActions) == 0 {
			at := now()
			row.Status, row.Pattern, row.CompletedAt = domain.ErasureCompleted, sql.NullString{}, &at
		}
		if row.WaitingActions == nil {
			row.WaitingActions = []string{}
		}
		row.Counts, row.UpdatedAt = e.counts, now()
		_, err = tx.db.NewUpdate().Model(row).Column("status", "pattern", "cursor", "waiting_actions", "counts", "updated_at", "completed_at").
			WherePK().Exec(ctx)
		return err
	})
	return stepped, err
}

// eraser replaces what pattern finds in a tenant's rows with domain.ErasureMark, counting
// the rows it changed by table.
type eraser struct {
	tx      *Conn
	tenant  string
	pattern string
	counts  map[string]int64
}

// scrub is the SQL that replaces the pattern (the first argument) in a text expression.
func scrub(expr string) string {
	return "regexp_replace(" + expr + ", ?, '" + domain.ErasureMark + "', 'gi')"
}

// scrubJSON is scrub for a jsonb column: the mark is plain text, and the pattern never
// matches a quote, so the JSON stays valid.
func scrubJSON(col string) string { return scrub(col+"::text") + "::jsonb" }

func (e *eraser) exec(ctx context.Context, table string, q *bun.UpdateQuery) error {
	n, err := affected(q.Exec(ctx))
	if n > 0 {
		e.counts[table] += n
	}
	return err
}

// tickets erases the pattern from the tickets ids and every row about them, and returns
// their actions still running whose records held it (or whose ticket did): what those
// record when they end is erased then.
func (e *eraser) tickets(ctx context.Context, ids []string) ([]string, error) {
	p, in, db := e.pattern, bun.In(ids), e.tx.db
	var touched []string // tickets that held it anywhere
	var rows []string
	if err := db.NewSelect().Table("tickets").Column("id").Where("tenant_id = ? AND id IN (?)", e.tenant, in).
		Where("subject ~* ? OR contact_name ~* ? OR contact_email ~* ? OR contact_phone ~* ?", p, p, p, p).Scan(ctx, &rows); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	touched = append(touched, rows...)
	if err := e.exec(ctx, "tickets", db.NewUpdate().Table("tickets").
		Set("subject = "+scrub("subject"), p).Set("contact_name = "+scrub("contact_name"), p).
		Set("contact_email = CASE WHEN contact_email ~* ? THEN NULL ELSE contact_email END", p).
		Set("contact_phone = CASE WHEN contact_phone ~* ? THEN NULL ELSE contact_phone END", p).
		Where("tenant_id = ? AND id IN (?)", e.tenant, in).
		Where("subject ~* ? OR contact_name ~* ? OR contact_email ~* ? OR contact_phone ~* ?", p, p, p, p)); err != nil {
		return nil, err
	}
	var msgTickets []string // one per message changed
	if err := db.NewRaw(`WITH m AS (UPDATE messages SET content = `+scrub("content")+` WHERE tenant_id = ? AND ticket_id IN (?) AND content ~* ? RETURNING ticket_id)
		SELECT ticket_id FROM m`, p, e.tenant, in, p).Scan(ctx, &msgTickets); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if len(msgTickets) > 0 {
		e.counts["messages"] += int64(len(msgTickets))
		touched = append(touched, msgTickets...)
	}
	if err := e.exec(ctx, "ticket_events", db.NewUpdate().Table("ticket_events").Set("payload = "+scrubJSON("payload"), p).
		Where("tenant_id = ? AND ticket_id IN (?) AND payload::text ~* ?", e.tenant, in, p)); err != nil {
		return nil, err
	}
	if err := e.exec(ctx, "automation_runs", db.NewUpdate().Table("automation_runs").
		Set("explanation = "+scrubJSON("explanation"), p).Set("actions = "+scrubJSON("actions"), p).Set("error = "+scrub("error"), p).
		Where("tenant_id = ? AND ticket_id IN (?)", e.tenant, in).
		Where("explanation::text ~* ? OR actions::text ~* ? OR error ~* ?", p, p, p)); err != nil {
		return nil, err
	}
	// Actions: those still running whose records or ticket held the person's data are
	// waited for; then the records are erased.
	var running []string
	if err := db.NewSelect().Table("actions").Column("id").Where("tenant_id = ? AND ticket_id IN (?) AND status NOT IN (?)", e.tenant, in, bun.In(domain.TerminalActionStatuses)).
		Where("ticket_id IN (?) OR payload::text ~* ? OR request::text ~* ? OR response::text ~* ?", bun.In(append(touched, "")), p, p, p).
		Scan(ctx, &running); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if err := e.actions(ctx, "tenant_id = ? AND ticket_id IN (?)", e.tenant, in); err != nil {
		return nil, err
	}
	slices.Sort(running)
	return running, nil
}

// actions erases the pattern from the actions where says, and from their attempt logs.
func (e *eraser) actions(ctx context.Context, where string, args ...any) error {
	p, db := e.pattern, e.tx.db
	if err := e.exec(ctx, "actions", db.NewUpdate().Table("actions").
		Set("payload = "+scrubJSON("payload"), p).Set("request = "+scrubJSON("request"), p).Set("response = "+scrubJSON("response"), p).
		Set("last_error = "+scrub("last_error"), p).
		Where(where, args...).Where("payload::text ~* ? OR request::text ~* ? OR response::text ~* ? OR last_error ~* ?", p, p, p, p)); err != nil {
		return err
	}
	return e.exec(ctx, "action_attempts", db.NewUpdate().Table("action_attempts").
		Set("response = "+scrubJSON("response"), p).Set("error = "+scrub("error"), p).
		Where("action_id IN (?)", db.NewSelect().Table("actions").Column("id").Where(where, args...)).
		Where("response::text ~* ? OR error ~* ?", p, p))
}

// idempotencyKeys erases the pattern from the tenant's stored responses (kept 24 hours).
func (e *eraser) idempotencyKeys(ctx context.Context) error {
	p := e.pattern
	return e.exec(ctx, "idempotency_keys", e.tx.db.NewUpdate().Table("idempotency_keys").
		Set("response_body = convert_to("+scrub("convert_from(response_body, 'UTF8')")+", 'UTF8')", p).
		Where("tenant_id = ? AND convert_from(response_body, 'UTF8') ~* ?", e.tenant, p))
}
