package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// AttemptRecord is what PostgreSQL keeps of an attempt's outcome, or of a run's end that
// is no attempt's (Attempt 0: canceled).
type AttemptRecord struct {
	ActionID  string
	Attempt   int
	Status    string // retrying, or a terminal status
	Outcome   string // the attempt's (domain.Attempt*); "" for a cancel
	LastError string // the attempt's error; for a cancel, why
	// Destination and whether the attempt counts against its circuit (see
	// AttemptOutcome.DestinationFailed).
	Destination       string
	DestinationFailed bool
	Response          *domain.ActionResponse
	NextAttemptAt     *time.Time
}

// RecordAttempt stores an outcome SendAttempt could not record, or the end of a canceled
// run. The workflow retries it until PostgreSQL answers, so it must be idempotent: the
// store ignores a record of an attempt it already holds, of an older attempt than the
// last one recorded, or of a finished action. Its database errors stay in this activity's
// failures, which ops read in the Temporal UI and tenants never see.
func (a *Activities) RecordAttempt(ctx context.Context, rec AttemptRecord) error {
	if rec.Status != domain.ActionRetrying && !domain.ActionTerminal(rec.Status) {
		return temporal.NewNonRetryableApplicationError("not an outcome: "+rec.Status, "BadOutcome", nil)
	}
	_, err := a.record(ctx, rec)
	return err
}

// record stores rec and reports whether it changed the action (see store.RecordAttempt).
// Only a record that changed the action is counted in the metrics, so a record retried
// after an outage counts once.
func (a *Activities) record(ctx context.Context, rec AttemptRecord) (bool, error) {
	changed, err := a.Store.RecordAttempt(ctx, rec.ActionID, store.AttemptResult{
		Attempt: rec.Attempt, Status: rec.Status, Outcome: rec.Outcome, LastError: rec.LastError, Response: rec.Response, NextAttemptAt: rec.NextAttemptAt,
		Destination: rec.Destination, DestinationFailed: rec.DestinationFailed,
	})
	if err == nil && changed {
		a.Metrics.AttemptRecorded(rec.Outcome, rec.Status)
	}
	return changed, err
}
