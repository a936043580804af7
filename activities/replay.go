package activities

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/domain"
)

// ReplayStep replays the next actions of a bulk replay (see store.ReplayNext) and starts
// their workflows; one it cannot start is left queued for the relay. An action whose
// payload the tenant's settings no longer allow is skipped and counted as such. A queued
// batch starts here when its turn has come, and replays nothing until then.
func (a *Activities) ReplayStep(ctx context.Context, in contract.ReplayStepInput) (*contract.ReplayStepResult, error) {
	b, err := a.Store.GetReplayBatch(ctx, "", in.BatchID)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "ReplayMissing", nil)
	}
	if err != nil {
		return nil, err
	}
	tenant, err := a.Store.GetTenant(ctx, b.TenantID)
	if err != nil {
		return nil, err
	}
	settings := tenant.ActionSettings()
	step, err := a.Store.ReplayNext(ctx, in.BatchID, in.Max, func(orig *domain.Action) (*domain.Action, bool) {
		r, err := orig.Replay(settings, b.RequestedBy)
		return r, err == nil
	})
	if err != nil {
		return nil, err
	}
	for _, act := range step.Created {
		if a.StartAction == nil {
			break
		}
		if err := a.StartAction(ctx, act); err != nil {
			activity.GetLogger(ctx).Warn("replay not started yet; the relay starts it", "action_id", act.ID, "error", err)
		}
	}
	return &contract.ReplayStepResult{Replayed: len(step.Created), Queued: step.Queued, Done: step.Done}, nil
}

// FinishReplay ends a bulk replay that has not ended (queued or running) with status
// (canceled, failed).
func (a *Activities) FinishReplay(ctx context.Context, batchID, status string) error {
	_, err := a.Store.FinishReplayBatch(ctx, "", batchID, status)
	return err
}
