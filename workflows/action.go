// Package workflows holds Threada's Temporal workflows: one file per workflow, with its
// input, task queue and how to start it.
package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/threada/threada/activities"
	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/domain"
)

// statusAttributeChange is the GetVersion change that sets ActionStatus when a run ends;
// runs started before it never set it.
const statusAttributeChange = "action-status-attribute"

// slotLineChange is the GetVersion change after which an attempt held back by its
// destination's limit waits for a wake in the destination's line (contract.SignalSlotFree)
// instead of asking again every second; runs started before it keep asking.
const slotLineChange = "destination-slot-line"

// attemptLoopChange is the GetVersion change of the attempt loop: runs started before it
// let Temporal retry one activity that recorded its own outcome (see action_legacy.go).
const attemptLoopChange = "attempt-loop"

// Backoff of an attempt that could not be prepared because PostgreSQL did not answer:
// nothing was sent, so it is tried again, for as long as that takes, without counting.
const (
	notSentFirstWait = time.Second
	notSentMaxWait   = time.Minute
)

// recordOptions run the activity that stores an outcome SendAttempt could not: retried
// with backoff and no limit, because the outcome of a call that went out must be kept
// whatever PostgreSQL's downtime, and the call must not be made again.
var recordOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
}

// Messages of attempts that ended without an answer from SendAttempt. Tenants read them
// as last_error, so they say what happened to the attempt and nothing of Threada's
// infrastructure.
const (
	msgAttemptLost = "the attempt did not finish within its timeout (the worker may have stopped)"
	msgAttemptFail = "the attempt failed inside Threada before an answer was recorded"
)

// ActionInput starts an action workflow (see contract.ActionInput). The workflow ID is the
// action ID.
type ActionInput = contract.ActionInput

// Register registers the workflows and activities on a worker; the worker binary and the
// end-to-end tests share it.
func Register(w worker.Registry, acts *activities.Activities) {
	RegisterWorkflows(w)
	w.RegisterActivity(acts)
}

// RegisterWorkflows registers the workflows alone: on a replayer, say.
func RegisterWorkflows(w worker.WorkflowRegistry) {
	w.RegisterWorkflowWithOptions(CustomHTTPAction, workflow.RegisterOptions{Name: contract.ActionWorkflowName})
	w.RegisterWorkflowWithOptions(ActionReplayBatch, workflow.RegisterOptions{Name: contract.ReplayBatchWorkflowName})
	w.RegisterWorkflowWithOptions(TicketTimer, workflow.RegisterOptions{Name: contract.TimerWorkflowName})
}

// CustomHTTPAction performs one custom_http action, up to max_attempts attempts with
// exponential backoff (1 s, x2, at most 5 min apart, or the receiver's Retry-After). Each
// attempt is one SendAttempt activity, which makes the call and, on the happy path,
// records its outcome too; when PostgreSQL did not answer, the workflow records it with
// RecordAttempt, retried until PostgreSQL is back, before anything else happens. So a
// database outage never sends a call twice, nor fails or loses an attempt that went out.
func CustomHTTPAction(ctx workflow.Context, in ActionInput) (*contract.CallResult, error) {
	if workflow.GetVersion(ctx, attemptLoopChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return legacyCustomHTTPAction(ctx, in)
	}
	return attemptLoop(ctx, in)
}

// attemptLoop makes the attempts, recording each before the next.
func attemptLoop(ctx workflow.Context, in ActionInput) (*contract.CallResult, error) {
	markEnd := endMarker(ctx)
	for attempt := 1; ; attempt++ {
		sendCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: contract.AttemptTimeout(in.Request),
			// Temporal never retries an attempt by itself: one that may have reached the
			// receiver (its worker died) is a failed attempt the workflow counts.
			RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
			Summary:     fmt.Sprintf("attempt %d of %d", attempt, in.Request.MaxAttempts),
		})
		att := contract.AttemptInput{ActionID: in.ActionID, TenantID: in.TenantID, Attempt: attempt, Request: in.Request}
		out, err := sendAttempt(ctx, sendCtx, att)
		switch {
		case temporal.IsCanceledError(err):
			markEnd(domain.ActionCanceled)
			return nil, recordCanceled(ctx, in.ActionID)
		case isType(err, contract.ErrTypeRecorded) || isType(err, contract.ErrTypeActionMissing):
			return nil, err
		case err != nil:
			out = lostAttempt(err)
		}
		rec := out.Record(att, workflow.Now(ctx))
		if !out.Recorded {
			if err := record(ctx, rec); err != nil {
				return nil, err
			}
		}
		switch rec.Status {
		case domain.ActionSucceeded:
			markEnd(rec.Status)
			return &contract.CallResult{StatusCode: out.Response.StatusCode, DurationMS: out.Response.DurationMS}, nil
		case domain.ActionRetrying:
			if err := sleepUntil(ctx, *rec.NextAttemptAt); err != nil {
				markEnd(domain.ActionCanceled)
				return nil, recordCanceled(ctx, in.ActionID)
			}
		default:
			markEnd(rec.Status)
			// Not out.Error, which names the receiver's URL: a failure's message is not a
			// payload, so it would sit in the history unsealed. The attempt's outcome (a
			// sealed payload) and the attempt log hold the whole error.
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the action %s after %d attempts (%s)", rec.Status, attempt, out.ErrType), out.ErrType, nil)
		}
	}
}

// endMarker returns what records a run's final status in its ActionStatus search
// attribute (for runs started after statusAttributeChange; older ones set nothing).
func endMarker(ctx workflow.Context) func(status string) {
	if workflow.GetVersion(ctx, statusAttributeChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return func(string) {}
	}
	return func(status string) {
		if err := workflow.UpsertTypedSearchAttributes(ctx, contract.SearchActionStatus.ValueSet(status)); err != nil {
			workflow.GetLogger(ctx).Warn("setting ActionStatus", "error", err)
		}
	}
}

// sendAttempt runs one attempt, trying it again while it could not be prepared.
func sendAttempt(ctx, sendCtx workflow.Context, in contract.AttemptInput) (*contract.AttemptOutcome, error) {
	var a *activities.Activities
	wait := notSentFirstWait
	for {
		var out contract.AttemptOutcome
		err := workflow.ExecuteActivity(sendCtx, a.SendAttempt, in).Get(sendCtx, &out)
		if isType(err, contract.ErrTypeHeldBack) {
			// Nothing was sent: the attempt waits for the destination's next probe, or for
			// one of its attempts in flight to end.
			if err := waitHeldBack(ctx, err); err != nil {
				return nil, err
			}
			continue
		}
		if !isType(err, contract.ErrTypeNotSent) {
			return &out, err
		}
		if err := workflow.Sleep(ctx, wait); err != nil {
			return nil, err
		}
		wait = min(2*wait, notSentMaxWait)
	}
}

// waitHeldBack waits as an attempt held back by its destination must: until the time the
// activity said, or, waiting in the destination's line, until an attempt that ends hands
// it its slot (a wake), whichever comes first.
func waitHeldBack(ctx workflow.Context, err error) error {
	wait, inLine := heldBackWait(err)
	if !inLine || workflow.GetVersion(ctx, slotLineChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return workflow.Sleep(ctx, wait)
	}
	timerCtx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(workflow.GetSignalChannel(ctx, contract.SignalSlotFree), func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	sel.AddFuture(workflow.NewTimer(timerCtx, wait), func(workflow.Future) {})
	sel.Select(ctx)
	return ctx.Err()
}

// heldBackWait is how long an attempt held back by its destination waits at most (what the
// activity said, within 100 ms and the line's wait) and whether it waits in line.
func heldBackWait(err error) (time.Duration, bool) {
	var appErr *temporal.ApplicationError
	var ms int64
	var inLine bool
	if errors.As(err, &appErr) && appErr.HasDetails() && appErr.Details(&ms, &inLine) == nil {
		return min(max(time.Duration(ms)*time.Millisecond, 100*time.Millisecond), max(domain.CircuitProbeInterval, domain.DestinationLineWait)), inLine
	}
	return domain.CircuitProbeInterval, false
}

// lostAttempt is the outcome of an attempt SendAttempt did not report: its worker died or
// it failed unexpectedly. The call may have gone out, so the attempt counts.
func lostAttempt(err error) *contract.AttemptOutcome {
	if temporal.IsTimeoutError(err) {
		return &contract.AttemptOutcome{Error: msgAttemptLost, ErrType: contract.ErrTypeTimeout, Retryable: true, TimedOut: true, Lost: true}
	}
	return &contract.AttemptOutcome{Error: msgAttemptFail, ErrType: "AttemptError", Retryable: true, Lost: true}
}

// record stores an outcome in PostgreSQL. It runs on a disconnected context: a cancel
// arriving meanwhile must not drop what an attempt already did.
func record(ctx workflow.Context, rec contract.AttemptRecord) error {
	var a *activities.Activities
	rctx, _ := workflow.NewDisconnectedContext(ctx)
	rctx = workflow.WithActivityOptions(rctx, recordOptions)
	return workflow.ExecuteActivity(rctx, a.RecordAttempt, rec).Get(rctx, nil)
}

// recordCanceled records a canceled run and returns the error that ends it as canceled.
func recordCanceled(ctx workflow.Context, actionID string) error {
	if err := record(ctx, contract.AttemptRecord{ActionID: actionID, Status: domain.ActionCanceled, LastError: "canceled after it started"}); err != nil {
		return err
	}
	return temporal.NewCanceledError()
}

// sleepUntil waits until t; a time already past returns at once.
func sleepUntil(ctx workflow.Context, t time.Time) error {
	if d := t.Sub(workflow.Now(ctx)); d > 0 {
		return workflow.Sleep(ctx, d)
	}
	return ctx.Err()
}

// isType reports whether err carries an application error of type typ.
func isType(err error, typ string) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == typ
}
