package main

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

type replayFilterInput struct {
	Status       nonBlank   `json:"status"`
	TicketID     nonBlank   `json:"ticket_id"`
	AutomationID nonBlank   `json:"automation_id"`
	Host         nonBlank   `json:"host"`
	Since        *time.Time `json:"since"`
	Until        *time.Time `json:"until"`
}

type replayBatchRequest struct {
	Filter        *replayFilterInput `json:"filter"`
	RatePerSecond *int               `json:"rate_per_second"`
	DryRun        bool               `json:"dry_run"`
}

type replayFilterView struct {
	Status       *string   `json:"status"`
	TicketID     *string   `json:"ticket_id"`
	AutomationID *string   `json:"automation_id"`
	Host         *string   `json:"host"`
	Since        timestamp `json:"since"`
	Until        timestamp `json:"until"`
}

type replayBatchView struct {
	ReplayID      string           `json:"replay_id"`
	Status        string           `json:"status"`
	Filter        replayFilterView `json:"filter"`
	RatePerSecond int              `json:"rate_per_second"`
	Matched       int              `json:"matched"`
	Replayed      int              `json:"replayed"`
	Skipped       int              `json:"skipped"`
	CreatedAt     timestamp        `json:"created_at"`
	UpdatedAt     timestamp        `json:"updated_at"`
	CompletedAt   *timestamp       `json:"completed_at"`
	WorkflowID    string           `json:"workflow_id"`
	TemporalUIURL string           `json:"temporal_ui_url,omitempty"`
}

type replayBatchEnvelope struct {
	Replay replayBatchView `json:"replay"`
}

type replayDryRunView struct {
	DryRun  bool         `json:"dry_run"`
	Matched int          `json:"matched"`
	Samples []actionView `json:"samples"`
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *server) replayBatchViewOf(b *domain.ReplayBatch) replayBatchView {
	f := b.Filter
	return replayBatchView{
		ReplayID: b.ID, Status: b.Status, RatePerSecond: b.RatePerSecond, Matched: b.Matched, Replayed: b.Replayed, Skipped: b.Skipped,
		Filter: replayFilterView{Status: optString(f.Status), TicketID: optString(f.TicketID), AutomationID: optString(f.AutomationID),
			Host: optString(f.Host), Since: timestamp(f.Since), Until: timestamp(f.Until)},
		CreatedAt: timestamp(b.CreatedAt), UpdatedAt: timestamp(b.UpdatedAt), CompletedAt: optTime(b.CompletedAt),
		WorkflowID: b.ID, TemporalUIURL: s.actions.UILink(b.ID),
	}
}

// checked is the request's filter, normalized, and its rate, or the error that says
// what is wrong with them.
func (req *replayBatchRequest) checked() (domain.ReplayFilter, int, error) {
	if req.Filter == nil {
		return domain.ReplayFilter{}, 0, domain.Invalidf("filter", "`filter` is required, with at least `since` and `until` (a window of at most 30 days).")
	}
	in := req.Filter
	f := domain.ReplayFilter{Status: string(in.Status), TicketID: string(in.TicketID), AutomationID: string(in.AutomationID), Host: string(in.Host)}
	if in.Since != nil {
		f.Since = *in.Since
	}
	if in.Until != nil {
		f.Until = *in.Until
	}
	if err := f.Normalize(); err != nil {
		return f, 0, err
	}
	rate := domain.DefaultReplayRate
	if req.RatePerSecond != nil {
		if rate = *req.RatePerSecond; rate < 1 || rate > domain.MaxReplayRate {
			return f, 0, domain.Invalidf("rate_per_second", "`rate_per_second` must be from 1 to %d.", domain.MaxReplayRate)
		}
	}
	return f, rate, nil
}

// createReplayBatch handles POST /action-replays: the finished actions a filter matches
// (within a window of at most 30 days, at most domain.MaxReplayBatch of them) are replayed
// by one workflow at rate_per_second, or with dry_run counted and sampled, nothing started.
// While another of the tenant's replays runs the new one is queued (its workflow starts
// and waits); past domain.MaxQueuedReplays waiting it is refused (409), nothing stored.
func (s *server) createReplayBatch(c *fiber.Ctx, db *store.Conn) error {
	var req replayBatchRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	f, rate, err := req.checked()
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	key := keyOf(c)
	matched, samples, err := db.ReplayMatches(ctx, key.TenantID, f)
	if err != nil {
		return err
	}
	if matched > domain.MaxReplayBatch {
		return domain.Invalidf("filter", "The filter matches more than %d actions; narrow it (a shorter window, a status, a host).", domain.MaxReplayBatch)
	}
	if req.DryRun {
		v := replayDryRunView{DryRun: true, Matched: matched, Samples: make([]actionView, len(samples))}
		for i := range samples {
			v.Samples[i] = s.actionViewOf(&samples[i])
		}
		return c.JSON(v)
	}
	b := &domain.ReplayBatch{ID: domain.NewID(domain.PrefixReplayBatch), TenantID: key.TenantID, Filter: f,
		RatePerSecond: rate, Matched: matched, RequestedBy: "api_key:" + key.ID}
	err = s.txn(c, db, func(ctx context.Context, tx *store.Conn) error {
		if err := tx.CreateReplayBatch(ctx, b); err != nil {
			return err
		}
		return s.audit(c, tx, "action_replay.create", b.ID, nil, s.replayBatchViewOf(b))
	})
	if err != nil {
		return err
	}
	// The batch is committed before its workflow starts, which reads it.
	if db, err = s.store.Detach(ctx, db); err != nil {
		return err
	}
	if err := s.actions.StartReplay(ctx, b); err != nil {
		if _, ferr := db.FinishReplayBatch(context.WithoutCancel(ctx), b.TenantID, b.ID, domain.ReplayBatchFailed); ferr != nil {
			s.log.Warn("marking an unstarted replay failed", "replay_id", b.ID, "err", ferr)
		}
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(replayBatchEnvelope{Replay: s.replayBatchViewOf(b)})
}

// getReplayBatch handles GET /action-replays/{replay_id}: the batch's progress.
func (s *server) getReplayBatch(c *fiber.Ctx) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	b, err := s.replayBatchParam(c, &s.store.Conn)
	if err != nil {
		return err
	}
	return c.JSON(replayBatchEnvelope{Replay: s.replayBatchViewOf(b)})
}

// cancelReplayBatch handles POST /action-replays/{replay_id}/cancel: no further action is
// replayed; replays already started run on. A queued batch ends without replaying any. A
// finished batch is a 409.
func (s *server) cancelReplayBatch(c *fiber.Ctx, db *store.Conn) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	b, err := s.replayBatchParam(c, db)
	if err != nil {
		return err
	}
	if !domain.ReplayBatchActive(b.Status) {
		return domain.Errorf(domain.ECONFLICT, "Action replay %s already %s.", b.ID, b.Status)
	}
	ctx := c.UserContext()
	err = s.txn(c, db, func(ctx context.Context, tx *store.Conn) error {
		if _, err := tx.FinishReplayBatch(ctx, b.TenantID, b.ID, domain.ReplayBatchCanceled); err != nil {
			return err
		}
		return s.audit(c, tx, "action_replay.cancel", b.ID, map[string]string{"status": b.Status}, map[string]string{"status": domain.ReplayBatchCanceled})
	})
	if err != nil {
		return err
	}
	if db, err = s.store.Detach(ctx, db); err != nil {
		return err
	}
	// The batch no longer replays (each step checks its status); stopping the workflow
	// too ends it at once rather than at its next step.
	s.actions.CancelReplay(ctx, b.ID)
	if b, err = db.GetReplayBatch(ctx, b.TenantID, b.ID); err != nil {
		return err
	}
	return c.JSON(replayBatchEnvelope{Replay: s.replayBatchViewOf(b)})
}

func (s *server) replayBatchParam(c *fiber.Ctx, db *store.Conn) (*domain.ReplayBatch, error) {
	id := c.Params("replay_id")
	if !domain.ValidID(domain.PrefixReplayBatch, id) {
		return nil, domain.Errorf(domain.ENOTFOUND, "No action replay %q exists.", id)
	}
	return db.GetReplayBatch(c.UserContext(), keyOf(c).TenantID, id)
}
