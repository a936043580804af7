package activities

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/threada/threada/internal/actions"
	"github.com/threada/threada/internal/domain"
)

// The activities below serve only action runs started before the workflow recorded each
// attempt itself (workflow version DefaultVersion of "attempt-loop"): Temporal retries
// CustomHTTPCall, which records its own outcome. Remove them once no such run is open.

// CallInput is one action call of a run started before the attempt loop.
type CallInput struct {
	ActionID string
	TenantID string
	Request  domain.ActionRequest
}

// OutcomeInput records a final outcome CustomHTTPCall could not record itself.
type OutcomeInput struct {
	ActionID  string
	Status    string
	LastError string
}

// CustomHTTPCall makes attempt n (Temporal's attempt number) of an older run and records
// its outcome: succeeded, retrying (with the next attempt's time), failed or timed_out. It
// returns a retryable error for Temporal to retry.
func (a *Activities) CustomHTTPCall(ctx context.Context, in CallInput) (*CallResult, error) {
	attempt := int(activity.GetInfo(ctx).Attempt)
	secrets, err := a.prepare(ctx, in.ActionID, in.TenantID, in.Request.URL, attempt)
	if err != nil {
		return nil, err
	}
	o := a.call(ctx, in.ActionID, in.Request, attempt, secrets)
	next := a.now().Add(actions.Retry.Delay(attempt, o.RetryAfter))
	rec := o.Record(AttemptInput{ActionID: in.ActionID, TenantID: in.TenantID, Attempt: attempt, Request: in.Request}, next)
	recorded, err := a.record(ctx, rec)
	if err != nil {
		return nil, temporal.NewApplicationErrorWithCause("the attempt's outcome could not be recorded (Threada's database did not answer)",
			"OutcomeNotRecorded", err)
	}
	switch {
	case rec.Status == domain.ActionSucceeded:
		return &CallResult{StatusCode: o.Response.StatusCode, DurationMS: o.Response.DurationMS}, nil
	case rec.Status != domain.ActionRetrying || !recorded:
		return nil, temporal.NewNonRetryableApplicationError(o.Error, ErrTypeRecorded, nil)
	}
	return nil, temporal.NewApplicationErrorWithOptions(o.Error, o.ErrType, temporal.ApplicationErrorOptions{NextRetryDelay: o.RetryAfter})
}

// RecordActionOutcome stores an older run's final status, unless one is already recorded.
func (a *Activities) RecordActionOutcome(ctx context.Context, in OutcomeInput) error {
	if !domain.ActionTerminal(in.Status) {
		return temporal.NewNonRetryableApplicationError("not a final status: "+in.Status, "BadOutcome", nil)
	}
	_, err := a.record(ctx, AttemptRecord{ActionID: in.ActionID, Status: in.Status, LastError: in.LastError})
	return err
}
