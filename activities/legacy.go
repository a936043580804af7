package activities

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/domain"
)

// The activities below serve only action runs started before the workflow recorded each
// attempt itself (workflow version DefaultVersion of "attempt-loop"): Temporal retries
// CustomHTTPCall, which records its own outcome. Remove them once no such run is open.

// CustomHTTPCall makes attempt n (Temporal's attempt number) of an older run and records
// its outcome: succeeded, retrying (with the next attempt's time), failed or timed_out. It
// returns a retryable error for Temporal to retry.
func (a *Activities) CustomHTTPCall(ctx context.Context, in contract.CallInput) (*contract.CallResult, error) {
	attempt := int(activity.GetInfo(ctx).Attempt)
	secrets, err := a.prepare(ctx, in.ActionID, in.TenantID, in.Request.URL, attempt)
	if err != nil {
		return nil, err
	}
	o := a.call(ctx, in.ActionID, in.Request, attempt, secrets)
	rec := o.Record(contract.AttemptInput{ActionID: in.ActionID, TenantID: in.TenantID, Attempt: attempt, Request: in.Request}, a.now())
	recorded, err := a.record(ctx, rec)
	if err != nil {
		return nil, temporal.NewApplicationErrorWithCause("the attempt's outcome could not be recorded (Threada's database did not answer)",
			"OutcomeNotRecorded", err)
	}
	switch {
	case rec.Status == domain.ActionSucceeded:
		return &contract.CallResult{StatusCode: o.Response.StatusCode, DurationMS: o.Response.DurationMS}, nil
	case rec.Status != domain.ActionRetrying || !recorded:
		return nil, temporal.NewNonRetryableApplicationError(o.Error, contract.ErrTypeRecorded, nil)
	}
	return nil, temporal.NewApplicationErrorWithOptions(o.Error, o.ErrType, temporal.ApplicationErrorOptions{NextRetryDelay: o.RetryAfter})
}

// RecordActionOutcome stores an older run's final status, unless one is already recorded.
func (a *Activities) RecordActionOutcome(ctx context.Context, in contract.OutcomeInput) error {
	if !domain.ActionTerminal(in.Status) {
		return temporal.NewNonRetryableApplicationError("not a final status: "+in.Status, "BadOutcome", nil)
	}
	_, err := a.record(ctx, contract.AttemptRecord{ActionID: in.ActionID, Status: in.Status, LastError: in.LastError})
	return err
}
