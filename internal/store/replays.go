package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

type replayBatchRow struct {
	bun.BaseModel `bun:"table:action_replay_batches"`

	ID            string              `bun:"id,pk"`
	TenantID      string              `bun:"tenant_id"`
	Filter        domain.ReplayFilter `bun:"filter,type:jsonb"`
	RatePerSecond int                 `bun:"rate_per_second"`
	Status        string              `bun:"status"`
	Matched       int                 `bun:"matched"`
	Replayed      int                 `bun:"replayed"`
	Skipped       int                 `bun:"skipped"`
	CursorAt      *time.Time          `bun:"cursor_at"`
	CursorID      sql.NullString      `bun:"cursor_id"`
	RequestedBy   string              `bun:"requested_by"`
	CreatedAt     time.Time           `bun:"created_at"`
	UpdatedAt     time.Time           `bun:"updated_at"`
	CompletedAt   *time.Time          `bun:"completed_at"`
}

func (r *replayBatchRow) toDomain() *domain.ReplayBatch {
	b := &domain.ReplayBatch{
		ID: r.ID, TenantID: r.TenantID, Filter: r.Filter, RatePerSecond: r.RatePerSecond, Status: r.Status,
		Matched: r.Matched, Replayed: r.Replayed, Skipped: r.Skipped, RequestedBy: r.RequestedBy,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if r.CompletedAt != nil {
		t := r.CompletedAt.UTC()
		b.CompletedAt = &t
	}
	return b
}

// urlHostPattern captures the host of an absolute URL (after any user info, before any port).
const urlHostPattern = `^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#:]+|\[[^]]*\])`

// whereReplayable narrows q (over actions) to a tenant's finished actions that f matches,
// created before before.
func whereReplayable(q *bun.SelectQuery, tenantID string, f domain.ReplayFilter, before time.Time) *bun.SelectQuery {
	until := f.Until
	if before.Before(until) {
		until = before
	}
	q = q.Where("tenant_id = ? AND created_at >= ? AND created_at < ?", tenantID, f.Since, until)
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	} else {
		q = q.Where("status IN (?)", bun.In([]string{domain.ActionSucceeded, domain.ActionFailed, domain.ActionCanceled, domain.ActionTimedOut}))
	}
	if f.TicketID != "" {
		q = q.Where("ticket_id = ?", f.TicketID)
	}
	if f.AutomationID != "" {
		q = q.Where("requested_by = ?", "automation:"+f.AutomationID)
	}
	if f.Host != "" {
		q = q.Where("lower(substring(request->>'URL' from ?)) = ?", urlHostPattern, f.Host)
	}
	return q
}

// ReplayMatches counts a tenant's finished actions f matches now, up to
// domain.MaxReplayBatch+1, and returns the first few of them.
func (s *Conn) ReplayMatches(ctx context.Context, tenantID string, f domain.ReplayFilter) (int, []domain.Action, error) {
	var n int
	if err := s.db.NewSelect().ColumnExpr("count(*)").TableExpr("(?) AS m",
		whereReplayable(s.db.NewSelect().Table("actions").Column("id"), tenantID, f, domain.MaxTime).Limit(domain.MaxReplayBatch+1)).
		Scan(ctx, &n); err != nil {
		return 0, nil, err
	}
	var rows []actionRow
	if err := whereReplayable(s.db.NewSelect().Model(&rows), tenantID, f, domain.MaxTime).
		OrderExpr("created_at, id").Limit(domain.ReplaySamples).Scan(ctx); err != nil {
		return 0, nil, err
	}
	samples := make([]domain.Action, len(rows))
	for i := range rows {
		samples[i] = *rows[i].toDomain()
	}
	return n, samples, nil
}

// CreateReplayBatch stores a new running bulk replay.
func (s *Conn) CreateReplayBatch(ctx context.Context, b *domain.ReplayBatch) error {
	at := now()
	b.Status, b.CreatedAt, b.UpdatedAt = domain.ReplayBatchRunning, at, at
	row := &replayBatchRow{ID: b.ID, TenantID: b.TenantID, Filter: b.Filter, RatePerSecond: b.RatePerSecond, Status: b.Status,
		Matched: b.Matched, RequestedBy: b.RequestedBy, CreatedAt: at, UpdatedAt: at}
	_, err := s.db.NewInsert().Model(row).Exec(ctx)
	return err
}

// GetReplayBatch returns a bulk replay of the tenant ("" tenant: any). ENOTFOUND.
func (s *Conn) GetReplayBatch(ctx context.Context, tenantID, id string) (*domain.ReplayBatch, error) {
	row := new(replayBatchRow)
	q := s.db.NewSelect().Model(row).Where("id = ?", id)
	if tenantID != "" {
		q = q.Where("tenant_id = ?", tenantID)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, wrapErr(err, "No action replay "+id+" exists.")
	}
	return row.toDomain(), nil
}

// ReplayNext replays up to n more of a running bulk replay's actions, oldest first, in one
// transaction with its progress: replay builds each replay from its original (false: the
// payload is no longer allowed; it is skipped). Replays get IDs derived from the batch and
// the original, so a step that runs twice replays nothing twice. It returns the actions
// stored, to start, and whether the batch is finished (then marked succeeded); a batch no
// longer running (canceled) stores nothing and is finished.
func (s *Conn) ReplayNext(ctx context.Context, batchID string, n int, replay func(orig *domain.Action) (*domain.Action, bool)) (created []*domain.Action, done bool, err error) {
	err = s.InTx(ctx, func(tx *Conn) error {
		created, done = nil, false
		b := new(replayBatchRow)
		if err := tx.db.NewSelect().Model(b).Where("id = ?", batchID).For("UPDATE").Scan(ctx); err != nil {
			return wrapErr(err, "No action replay "+batchID+" exists.")
		}
		if b.Status != domain.ReplayBatchRunning {
			done = true
			return nil
		}
		var rows []actionRow
		q := whereReplayable(tx.db.NewSelect().Model(&rows), b.TenantID, b.Filter, b.CreatedAt)
		if b.CursorAt != nil {
			q = q.Where("(created_at, id) > (?, ?)", *b.CursorAt, b.CursorID.String)
		}
		if err := q.OrderExpr("created_at, id").Limit(int64(n)).Scan(ctx); err != nil {
			return err
		}
		skipped := 0
		for i := range rows {
			orig := rows[i].toDomain()
			a, ok := replay(orig)
			if !ok {
				skipped++
				continue
			}
			a.ID = domain.DerivedID(domain.PrefixAction, b.CreatedAt, batchID, orig.ID)
			a.Origin = domain.OriginBulkReplay
			if err := tx.createReplay(ctx, a); err != nil {
				return err
			}
			created = append(created, a)
		}
		done = len(rows) < n
		upd := tx.db.NewUpdate().Model(b).
			Set("replayed = replayed + ?", len(created)).Set("skipped = skipped + ?", skipped).Set("updated_at = ?", now()).WherePK()
		if len(rows) > 0 {
			last := rows[len(rows)-1]
			upd = upd.Set("cursor_at = ?", last.CreatedAt).Set("cursor_id = ?", last.ID)
		}
		if done {
			upd = upd.Set("status = ?", domain.ReplayBatchSucceeded).Set("completed_at = ?", now())
		}
		_, err := upd.Exec(ctx)
		return err
	})
	return created, done, err
}

// createReplay stores a replay unless one with its ID exists (a step run again).
func (s *Conn) createReplay(ctx context.Context, a *domain.Action) error {
	_, err := s.db.NewInsert().Model(newActionRow(a)).On("CONFLICT (id) DO NOTHING").Exec(ctx)
	return err
}

// FinishReplayBatch ends a running bulk replay with status (canceled or failed) and reports
// whether it was running.
func (s *Conn) FinishReplayBatch(ctx context.Context, tenantID, id, status string) (bool, error) {
	q := s.db.NewUpdate().Table("action_replay_batches").Set("status = ?", status).Set("updated_at = ?", now()).
		Set("completed_at = ?", now()).Where("id = ? AND status = ?", id, domain.ReplayBatchRunning)
	if tenantID != "" {
		q = q.Where("tenant_id = ?", tenantID)
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
