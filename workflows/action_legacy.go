package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/threada/threada/activities"
	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/domain"
)

// legacyCustomHTTPAction is CustomHTTPAction as it was before the attempt loop, kept
// command for command so that runs started then replay and finish: Temporal retries one
// CustomHTTPCall activity, which records each outcome itself; only a cancel, or an outcome
// the activity could not record, adds a RecordActionOutcome. Remove it, with the legacy
// activities, once no run older than the "attempt-loop" change is open.
func legacyCustomHTTPAction(ctx workflow.Context, in ActionInput) (*contract.CallResult, error) {
	var a *activities.Activities
	callCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: contract.AttemptTimeout(in.Request),
		RetryPolicy:         contract.Retry.TemporalPolicy(in.Request.MaxAttempts),
	})
	var res contract.CallResult
	err := workflow.ExecuteActivity(callCtx, a.CustomHTTPCall, contract.CallInput{
		ActionID: in.ActionID, TenantID: in.TenantID, Request: in.Request,
	}).Get(callCtx, &res)
	if err == nil {
		return &res, nil
	}

	status, recorded := legacyOutcomeOf(ctx, err)
	if !recorded {
		recordCtx, _ := workflow.NewDisconnectedContext(ctx)
		recordCtx = workflow.WithActivityOptions(recordCtx, workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second,
			RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute},
		})
		rerr := workflow.ExecuteActivity(recordCtx, a.RecordActionOutcome, contract.OutcomeInput{
			ActionID: in.ActionID, Status: status, LastError: legacyErrorMessage(err),
		}).Get(recordCtx, nil)
		if rerr != nil {
			return nil, rerr
		}
	}
	if status == domain.ActionCanceled {
		return nil, temporal.NewCanceledError()
	}
	return nil, err
}

// legacyOutcomeOf maps the call's final error to the action status, and says whether the
// activity already recorded it.
func legacyOutcomeOf(ctx workflow.Context, err error) (status string, recorded bool) {
	switch {
	case temporal.IsCanceledError(err) || errors.Is(ctx.Err(), workflow.ErrCanceled):
		return domain.ActionCanceled, false
	case isType(err, contract.ErrTypeRecorded):
		return "", true
	case temporal.IsTimeoutError(err):
		return domain.ActionTimedOut, false
	}
	return domain.ActionFailed, false
}

// legacyErrorMessage is the message the final outcome keeps: the outermost application
// error's, which the activities write for tenants (a database failure reads as a generic
// sentence; its details stay in the error's cause, for ops).
func legacyErrorMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	if temporal.IsTimeoutError(err) {
		return msgAttemptLost
	}
	if temporal.IsCanceledError(err) {
		return "canceled"
	}
	return msgAttemptFail
}
