package activities

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// RecordAttempt stores an outcome SendAttempt could not record, or the end of a canceled
// run. The workflow retries it until PostgreSQL answers, so it must be idempotent: the
// store ignores a record of an attempt it already holds, of an older attempt than the
// last one recorded, or of a finished action. Its database errors stay in this activity's
// failures, which ops read in the Temporal UI and tenants never see.
func (a *Activities) RecordAttempt(ctx context.Context, rec contract.AttemptRecord) error {
	if rec.Status != domain.ActionRetrying && !domain.ActionTerminal(rec.Status) {
		return temporal.NewNonRetryableApplicationError("not an outcome: "+rec.Status, "BadOutcome", nil)
	}
	if _, err := a.record(ctx, rec); err != nil {
		return err
	}
	if rec.Status == domain.ActionCanceled {
		return a.Store.LeaveLine(ctx, rec.ActionID) // canceled while it waited for a slot
	}
	return nil
}

// record stores rec and reports whether it changed the action (see store.RecordAttempt).
// Only a record that changed the action is counted in the metrics, so a record retried
// after an outage counts once.
func (a *Activities) record(ctx context.Context, rec contract.AttemptRecord) (bool, error) {
	changed, err := a.Store.RecordAttempt(ctx, rec.ActionID, store.AttemptResult{
		Attempt: rec.Attempt, Status: rec.Status, Outcome: rec.Outcome, LastError: rec.LastError, Response: rec.Response, NextAttemptAt: rec.NextAttemptAt,
		Destination: rec.Destination, DestinationFailed: rec.DestinationFailed,
	})
	if err == nil && changed {
		a.Metrics.AttemptRecorded(rec.Outcome, rec.Status)
		if rec.Attempt > 0 && rec.Destination != "" {
			a.handOver(ctx, rec.ActionID, rec.Destination)
		}
	}
	return changed, err
}

// wakeTries bounds how many waiters one slot given back tries to wake: one whose run has
// ended meanwhile (canceled, terminated) is passed over for the next.
const wakeTries = 3

// handOver gives the slot an attempt of actionID just gave back to the oldest attempt in
// its destination's line. Best effort: a waiter not woken asks again by itself within
// domain.DestinationLineWait, so a failure here is only logged.
func (a *Activities) handOver(ctx context.Context, actionID, destination string) {
	if a.Wake == nil {
		return
	}
	for range wakeTries {
		next, err := a.Store.WakeWaiter(ctx, actionID, destination)
		if err == nil && next == "" {
			return
		}
		var woke bool
		if err == nil {
			woke, err = a.Wake(ctx, next)
		}
		if err != nil {
			activity.GetLogger(ctx).Warn("handing a destination's slot over; the waiter asks again by itself", "action_id", actionID, "error", err)
			return
		}
		if woke {
			return
		}
	}
}
