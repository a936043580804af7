package store

import (
	"context"
	"database/sql"
	"errors"
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
		q = q.Where("host = ?", f.Host) // a generated column: see the filters_by_tenant migration
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

// CreateReplayBatch stores a new bulk replay: running if the tenant has none running or
// queued, else queued behind them, so a new batch never overtakes a waiting one. The
// unique index action_replay_batches_one_running has the last word, so a batch a worker
// promotes meanwhile is respected. ECONFLICT when domain.MaxQueuedReplays of the tenant's
// batches already wait; then nothing is stored.
func (s *Conn) CreateReplayBatch(ctx context.Context, b *domain.ReplayBatch) error {
	return s.InTx(ctx, func(tx *Conn) error {
		// A tenant's creates take turns (as in takeTurnBelow), so two never both see the
		// last free place in the queue.
		if _, err := tx.db.NewSelect().Table("tenants").Column("id").Where("id = ?", b.TenantID).For("NO KEY UPDATE").Exec(ctx); err != nil {
			return err
		}
		queued, err := tx.db.NewSelect().Table("action_replay_batches").
			Where("tenant_id = ? AND status = ?", b.TenantID, domain.ReplayBatchQueued).Count(ctx)
		if err != nil {
			return err
		}
		if queued >= domain.MaxQueuedReplays {
			return domain.Errorf(domain.ECONFLICT, "A tenant's bulk replays run one at a time, and at most %d may wait: "+
				"%d of this tenant's already do. Nothing was created; retry when one has started, or cancel one.", domain.MaxQueuedReplays, queued)
		}
		at := now()
		row := &replayBatchRow{ID: b.ID, TenantID: b.TenantID, Filter: b.Filter, RatePerSecond: b.RatePerSecond, Status: domain.ReplayBatchQueued,
			Matched: b.Matched, RequestedBy: b.RequestedBy, CreatedAt: at, UpdatedAt: at}
		inserted := int64(0)
		if queued == 0 {
			row.Status = domain.ReplayBatchRunning
			res, err := tx.db.NewInsert().Model(row).On("CONFLICT (tenant_id) WHERE status = ? DO NOTHING", domain.ReplayBatchRunning).Exec(ctx)
			if err != nil {
				return err
			}
			if inserted, err = res.RowsAffected(); err != nil {
				return err
			}
		}
		if inserted == 0 {
			row.Status = domain.ReplayBatchQueued
			if _, err := tx.db.NewInsert().Model(row).Exec(ctx); err != nil {
				return err
			}
		}
		b.Status, b.CreatedAt, b.UpdatedAt = row.Status, at, at
		return nil
	})
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

// ReplayStep is what one ReplayNext did.
type ReplayStep struct {
	Created []*domain.Action // the replays stored, to start
	Queued  bool             // the batch still waits for the tenant's running one; nothing was replayed
	Done    bool             // the batch has ended: succeeded now, or earlier (canceled, failed)
}

// errReplayWaits ends a promotion that lost to a concurrent one (a unique violation on
// action_replay_batches_one_running): the batch waits for its next step.
var errReplayWaits = errors.New("another bulk replay of the tenant started first")

// unfinishedStatuses are an action's statuses before its outcome; the predicate of the
// index actions_replay_unfinished lists the same ones.
var unfinishedStatuses = []string{domain.ActionQueued, domain.ActionRunning, domain.ActionRetrying}

// ReplayNext replays up to n more of a bulk replay's actions, oldest first, in one
// transaction with its progress: replay builds each replay from its original (false: the
// payload is no longer allowed; it is skipped). A queued batch first becomes running if
// it may (see promoteReplayBatch); otherwise it waits and nothing is replayed. A running
// batch replays at most as many as it has room for under domain.ReplayWindow (or
// domain.ReplayWindowShared while other tenants have live work: it yields to them), so a
// slow receiver slows it down. Replays get IDs derived from the batch and the original, so a
// step that runs twice replays nothing twice. When no original is left the batch is marked
// succeeded; a batch no longer queued or running (canceled) stores nothing and is done.
func (s *Conn) ReplayNext(ctx context.Context, batchID string, n int, replay func(orig *domain.Action) (*domain.Action, bool)) (ReplayStep, error) {
	var step ReplayStep
	err := s.InTx(ctx, func(tx *Conn) error {
		step = ReplayStep{}
		b := new(replayBatchRow)
		if err := tx.db.NewSelect().Model(b).Where("id = ?", batchID).For("UPDATE").Scan(ctx); err != nil {
			return wrapErr(err, "No action replay "+batchID+" exists.")
		}
		switch b.Status {
		case domain.ReplayBatchRunning:
		case domain.ReplayBatchQueued:
			promoted, err := tx.promoteReplayBatch(ctx, b)
			if err != nil {
				return err
			}
			if !promoted {
				step.Queued = true
				return nil
			}
		default:
			step.Done = true
			return nil
		}
		unfinished, err := tx.unfinishedReplays(ctx, batchID)
		if err != nil {
			return err
		}
		window := domain.ReplayWindow
		if busy, err := tx.othersBusy(ctx, b.TenantID); err != nil {
			return err
		} else if busy {
			window = domain.ReplayWindowShared
		}
		if n = min(n, window-unfinished, domain.ReplayStepMax); n <= 0 {
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
			if err := tx.createReplay(ctx, a, batchID); err != nil {
				return err
			}
			step.Created = append(step.Created, a)
		}
		step.Done = len(rows) < n
		upd := tx.db.NewUpdate().Model(b).
			Set("replayed = replayed + ?", len(step.Created)).Set("skipped = skipped + ?", skipped).Set("updated_at = ?", now()).WherePK()
		if len(rows) > 0 {
			last := rows[len(rows)-1]
			upd = upd.Set("cursor_at = ?", last.CreatedAt).Set("cursor_id = ?", last.ID)
		}
		if step.Done {
			upd = upd.Set("status = ?", domain.ReplayBatchSucceeded).Set("completed_at = ?", now())
		}
		_, err = upd.Exec(ctx)
		return err
	})
	if errors.Is(err, errReplayWaits) {
		return ReplayStep{Queued: true}, nil
	}
	return step, err
}

// promoteReplayBatch makes a queued batch running when none of its tenant's runs and it is
// the tenant's oldest queued one (by created_at, id), and reports whether it did. The
// unique index keeps a second one from running whatever the race; losing it is
// errReplayWaits, which aborts the step's transaction before anything was written.
func (tx *Conn) promoteReplayBatch(ctx context.Context, b *replayBatchRow) (bool, error) {
	res, err := tx.db.NewUpdate().Model(b).Set("status = ?", domain.ReplayBatchRunning).Set("updated_at = ?", now()).WherePK().
		Where("NOT EXISTS (SELECT 1 FROM action_replay_batches r WHERE r.tenant_id = ? AND r.status = ?)", b.TenantID, domain.ReplayBatchRunning).
		Where("NOT EXISTS (SELECT 1 FROM action_replay_batches q WHERE q.tenant_id = ? AND q.status = ? AND (q.created_at, q.id) < (?, ?))",
			b.TenantID, domain.ReplayBatchQueued, b.CreatedAt, b.ID).
		Exec(ctx)
	if domain.ErrorCode(wrapErr(err, "")) == domain.ECONFLICT {
		return false, errReplayWaits
	}
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if n == 1 {
		b.Status = domain.ReplayBatchRunning
	}
	return n == 1, err
}

// unfinishedReplays counts a batch's replays that have no outcome yet, up to
// domain.ReplayWindow: a read of at most that many entries of actions_replay_unfinished.
func (tx *Conn) unfinishedReplays(ctx context.Context, batchID string) (int, error) {
	var n int
	err := tx.db.NewSelect().ColumnExpr("count(*)").TableExpr("(?) AS u",
		tx.db.NewSelect().Table("actions").ColumnExpr("1").
			Where("replay_batch_id = ? AND status IN (?)", batchID, bun.In(unfinishedStatuses)).Limit(domain.ReplayWindow)).
		Scan(ctx, &n)
	return n, err
}

// othersBusy reports whether a tenant other than tenantID started live work (an action of
// a client's or an automation's, still queued or running) within
// domain.ReplayYieldLookback: then a bulk replay yields (domain.ReplayWindowShared). One
// probe of the small index actions_live.
func (tx *Conn) othersBusy(ctx context.Context, tenantID string) (bool, error) {
	return tx.db.NewSelect().Table("actions").
		Where("status IN (?, ?) AND origin <> ? AND created_at > ? AND tenant_id <> ?",
			domain.ActionQueued, domain.ActionRunning, domain.OriginBulkReplay, now().Add(-domain.ReplayYieldLookback), tenantID).
		Exists(ctx)
}

// createReplay stores a replay of batchID unless one with its ID exists (a step run again).
func (s *Conn) createReplay(ctx context.Context, a *domain.Action, batchID string) error {
	row := newActionRow(a)
	row.ReplayBatchID = nullString(batchID)
	_, err := s.db.NewInsert().Model(row).On("CONFLICT (id) DO NOTHING").Exec(ctx)
	return err
}

// FinishReplayBatch ends a bulk replay that has not ended (queued or running) with status
// (canceled or failed) and reports whether it had not.
func (s *Conn) FinishReplayBatch(ctx context.Context, tenantID, id, status string) (bool, error) {
	q := s.db.NewUpdate().Table("action_replay_batches").Set("status = ?", status).Set("updated_at = ?", now()).
		Set("completed_at = ?", now()).Where("id = ? AND status IN (?)", id, bun.In([]string{domain.ReplayBatchQueued, domain.ReplayBatchRunning}))
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
