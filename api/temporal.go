package main

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/threada/threada/activities"
	"github.com/threada/threada/internal/config"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/internal/telemetry"
	"github.com/threada/threada/workflows"
)

// temporalBackoff is how long the API stops trying Temporal after a call failed: while
// Temporal is down, requests answer from PostgreSQL at once instead of each waiting out a
// connection attempt.
const temporalBackoff = 5 * time.Second

// temporalCallTimeout bounds one call to Temporal made while serving a request.
const temporalCallTimeout = 3 * time.Second

// actionRunner starts actions' workflows and reads their live state. The client connects
// lazily, so the API starts and serves tickets while Temporal is unreachable.
type actionRunner struct {
	client    client.Client
	store     *store.Store
	log       *slog.Logger
	namespace string
	taskQueue string
	uiURL     string
	downUntil atomic.Int64 // unix nanos; Temporal is not tried before then
}

func newActionRunner(c client.Client, st *store.Store, log *slog.Logger, cfg config.Config) *actionRunner {
	return &actionRunner{client: c, store: st, log: log, namespace: cfg.TemporalNamespace, taskQueue: cfg.TaskQueue, uiURL: cfg.TemporalUIURL}
}

// dialTemporal returns a lazy client: no connection is made until the first call.
func dialTemporal(hostPort, namespace string, log *slog.Logger, tel *telemetry.Telemetry) (client.Client, error) {
	return client.NewLazyClient(tel.ClientOptions(client.Options{
		HostPort:  hostPort,
		Namespace: namespace,
		Logger:    tlog.NewStructuredLogger(log.With("component", "temporal-client")),
	}))
}

func (r *actionRunner) available() bool { return time.Now().UnixNano() >= r.downUntil.Load() }

// observe notes whether a call reached Temporal.
func (r *actionRunner) observe(err error) {
	if err == nil || isBusinessError(err) {
		r.downUntil.Store(0)
		return
	}
	if r.available() {
		r.log.Warn("Temporal unreachable; actions wait in PostgreSQL for the worker's relay", "err", err)
	}
	r.downUntil.Store(time.Now().Add(temporalBackoff).UnixNano())
}

// isBusinessError tells answers from Temporal (not found, already started, ...) from
// failures to reach it.
func isBusinessError(err error) bool {
	var nf *serviceerror.NotFound
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	var failedPre *serviceerror.FailedPrecondition
	var invalid *serviceerror.InvalidArgument
	return errors.As(err, &nf) || errors.As(err, &started) || errors.As(err, &failedPre) || errors.As(err, &invalid)
}

// start starts an action's workflow, once the action is committed. If Temporal cannot be
// reached the action stays queued with workflow_started=false, and the worker's relay
// starts it when Temporal is back: nothing accepted is lost.
func (r *actionRunner) start(ctx context.Context, a *domain.Action) {
	if !r.available() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), temporalCallTimeout)
	defer cancel()
	err := workflows.StartAndMark(ctx, r.client, r.store, r.taskQueue, a)
	r.observe(err)
	if err != nil {
		r.log.Warn("action not started yet; the relay will start it", "action_id", a.ID, "err", err)
	}
}

// live overlays Temporal's view of a running action on what PostgreSQL recorded: whether
// an attempt is in flight or waiting to retry, with its attempt count and next attempt
// time. last_error is always the recorded one, the receiver's problem as the attempt saw
// it: a pending activity's failure can be Threada's own (its database unreachable) and is
// never shown. Closed runs whose outcome PostgreSQL lacks (terminated by an operator) get
// it recorded. When Temporal cannot be reached, the recorded state is the answer.
func (r *actionRunner) live(ctx context.Context, a *domain.Action) *domain.Action {
	if domain.ActionTerminal(a.Status) || !a.Started || !r.available() {
		return a
	}
	ctx, cancel := context.WithTimeout(ctx, temporalCallTimeout)
	defer cancel()
	desc, err := r.client.DescribeWorkflowExecution(ctx, a.ID, "")
	r.observe(err)
	if err != nil {
		return a
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return r.closed(ctx, a, info.GetStatus())
	}
	for _, pa := range desc.GetPendingActivities() {
		inFlight := pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED || pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED
		switch pa.GetActivityType().GetName() {
		case activities.AttemptActivityName:
			// The workflow records each attempt before starting the next, so PostgreSQL
			// already says queued or retrying; only an attempt in flight is news.
			if inFlight {
				a.Status, a.Attempts, a.NextAttemptAt = domain.ActionRunning, a.Attempts+1, nil
			}
		case activities.CallActivityName: // runs started before the attempt loop
			switch {
			case inFlight:
				a.Status, a.Attempts, a.NextAttemptAt = domain.ActionRunning, int(pa.GetAttempt()), nil
			case pa.GetState() != enumspb.PENDING_ACTIVITY_STATE_SCHEDULED:
			case pa.GetAttempt() <= 1:
				a.Status = domain.ActionQueued
			default:
				a.Status, a.Attempts = domain.ActionRetrying, int(pa.GetAttempt())-1
				if t := pa.GetNextAttemptScheduleTime(); t != nil {
					next := t.AsTime().UTC()
					a.NextAttemptAt = &next
				}
			}
		}
	}
	return a
}

// closed handles a run that ended: normally its outcome is already in PostgreSQL.
func (r *actionRunner) closed(ctx context.Context, a *domain.Action, st enumspb.WorkflowExecutionStatus) *domain.Action {
	if fresh, err := r.store.GetAction(ctx, a.TenantID, a.ID); err == nil && domain.ActionTerminal(fresh.Status) {
		return fresh
	}
	status, msg := domain.ActionFailed, "the workflow failed"
	switch st {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return a // the outcome is being written; the next read has it
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		status, msg = domain.ActionCanceled, "canceled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		status, msg = domain.ActionCanceled, "terminated in Temporal by an operator"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		status, msg = domain.ActionTimedOut, "the workflow timed out"
	}
	if _, err := r.store.RecordAttempt(ctx, a.ID, store.AttemptResult{Status: status, LastError: msg}); err != nil {
		r.log.Warn("recording a closed run's outcome", "action_id", a.ID, "err", err)
		return a
	}
	if fresh, err := r.store.GetAction(ctx, a.TenantID, a.ID); err == nil {
		return fresh
	}
	return a
}

// wait holds until the action is terminal or d passes. It long-polls Temporal for the
// run's end when it can, and otherwise rereads PostgreSQL a few times a second.
func (r *actionRunner) wait(ctx context.Context, a *domain.Action, d time.Duration) *domain.Action {
	// Its own clock, not the request's database deadline.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	defer cancel()
	for !domain.ActionTerminal(a.Status) && ctx.Err() == nil {
		if a.Started && r.available() {
			err := r.client.GetWorkflow(ctx, a.ID, "").Get(ctx, nil)
			if ctx.Err() == nil {
				r.observe(nilIfWorkflowError(err))
			}
		} else {
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
		fresh, err := r.store.GetAction(context.WithoutCancel(ctx), a.TenantID, a.ID)
		if err != nil {
			break
		}
		a = r.live(context.WithoutCancel(ctx), fresh)
	}
	return a
}

// nilIfWorkflowError hides the errors a closed run returns (failed, canceled), which say
// nothing about whether Temporal is reachable.
func nilIfWorkflowError(err error) error {
	var wfErr *temporal.WorkflowExecutionError
	if errors.As(err, &wfErr) {
		return nil
	}
	return err
}

// cancel asks Temporal to cancel a started action's run.
func (r *actionRunner) cancel(ctx context.Context, a *domain.Action) error {
	ctx, cancel := context.WithTimeout(ctx, temporalCallTimeout)
	defer cancel()
	err := r.client.CancelWorkflow(ctx, a.ID, "")
	r.observe(err)
	if err != nil && !isBusinessError(err) {
		return domain.Errorf(domain.EUNAVAILABLE, "Actions cannot be canceled right now: the workflow service is unreachable. Retry shortly.")
	}
	return err
}

// uiLink returns the run's address in the Temporal UI, or "" when TEMPORAL_UI_URL is unset.
func (r *actionRunner) uiLink(actionID string) string {
	if r.uiURL == "" {
		return ""
	}
	return r.uiURL + "/namespaces/" + r.namespace + "/workflows/" + actionID
}

// startReplay starts a bulk replay's workflow; EUNAVAILABLE when Temporal cannot be reached.
func (r *actionRunner) startReplay(ctx context.Context, b *domain.ReplayBatch) error {
	if !r.available() {
		return domain.Errorf(domain.EUNAVAILABLE, "Bulk replays cannot start right now: the workflow service is unreachable. Retry shortly; nothing was replayed.")
	}
	ctx, cancel := context.WithTimeout(ctx, temporalCallTimeout)
	defer cancel()
	err := workflows.StartReplayBatch(ctx, r.client, r.taskQueue, b)
	r.observe(err)
	if err != nil {
		r.log.Warn("starting a bulk replay", "replay_id", b.ID, "err", err)
		return domain.Errorf(domain.EUNAVAILABLE, "Bulk replays cannot start right now: the workflow service is unreachable. Retry shortly; nothing was replayed.")
	}
	return nil
}

// cancelReplay asks Temporal to stop a bulk replay's run. The batch is already marked
// canceled in PostgreSQL, which its steps check, so a failure here only delays the end.
func (r *actionRunner) cancelReplay(ctx context.Context, batchID string) {
	ctx, cancel := context.WithTimeout(ctx, temporalCallTimeout)
	defer cancel()
	err := r.client.CancelWorkflow(ctx, batchID, "")
	r.observe(err)
	if err != nil && !isBusinessError(err) {
		r.log.Warn("canceling a bulk replay's run; it stops at its next step", "replay_id", batchID, "err", err)
	}
}
