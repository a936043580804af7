// Package actions is the one home of a custom_http action's lifecycle outside the workflow
// code: what an attempt sends (request.go), and what the API and the worker do with a run:
// start it, read its live status, wait for it, cancel it, replay it, and relay the starts
// that did not happen (runner.go, relay.go). Its workflow's names, inputs and retry policy
// are in internal/contract.
package actions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/threada/threada/internal/config"
	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/fairness"
	"github.com/threada/threada/internal/gateway"
	"github.com/threada/threada/internal/sealing"
	"github.com/threada/threada/internal/store"
)

// Runner runs actions on Temporal for a process, the API or the worker: it starts their
// workflows, reads their live state, waits for and cancels them, starts and cancels bulk
// replays, and relays the starts that did not happen. Its client connects lazily, so the
// process starts and serves while Temporal is unreachable.
type Runner struct {
	client    client.Client
	store     *store.Store
	log       *slog.Logger
	namespace string
	taskQueue string
	uiURL     string
	weights   *fairness.Weights
	// Gate says whether Temporal answered lately (Available, Observe); the Runner's and
	// the timers' calls share it.
	*gateway.Gate
}

// NewRunner returns a Runner on c and st, for cfg's namespace, task queue and Temporal UI
// address (links to runs; none when TEMPORAL_UI_URL is unset).
func NewRunner(c client.Client, st *store.Store, log *slog.Logger, cfg config.Config) *Runner {
	return &Runner{client: c, store: st, log: log, namespace: cfg.TemporalNamespace, taskQueue: cfg.TaskQueue, uiURL: cfg.TemporalUIURL,
		weights: fairness.NewWeights(st.DeliveryWeight), Gate: gateway.NewGate(log)}
}

// Priority is the Temporal priority of a tenant's work of class c, with the tenant's
// delivery weight (read at most every 30 s).
func (r *Runner) Priority(ctx context.Context, tenantID string, c fairness.Class) temporal.Priority {
	return fairness.Priority(tenantID, r.weights.Get(ctx, tenantID), c)
}

// Client is the Runner's Temporal client.
func (r *Runner) Client() client.Client { return r.client }

// Start starts a committed action's workflow and records in PostgreSQL that it is
// started. Every path that creates an action (the API, automations, a bulk replay's
// steps) calls it after commit. If Temporal cannot be reached the action stays queued with
// workflow_started=false, and the relay starts it when Temporal is back: nothing accepted
// is lost, so callers only log the error. It runs on its own gateway.CallTimeout, whatever is left
// of ctx, so a request that ends does not leave its action to the relay.
func (r *Runner) Start(ctx context.Context, a *domain.Action) error {
	if !r.Available() {
		return gateway.ErrUnreachable
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), gateway.CallTimeout)
	defer cancel()
	err := r.startWorkflow(ctx, a, fairness.ClassOf(a.Origin))
	r.Observe(err)
	if err == nil {
		if err = r.store.MarkStarted(ctx, a.ID); err != nil {
			err = fmt.Errorf("marking action %s started: %w", a.ID, err)
		} else {
			a.Started = true
		}
	}
	if err != nil {
		r.log.Warn("action not started yet; the relay will start it", "action_id", a.ID, "err", err)
	}
	return err
}

// startWorkflow starts an action's workflow as work of class c; one already started counts
// as started.
func (r *Runner) startWorkflow(ctx context.Context, a *domain.Action, c fairness.Class) error {
	ctx = sealing.WithTenant(ctx, a.TenantID)
	_, err := r.client.ExecuteWorkflow(ctx, contract.StartOptions(r.taskQueue, a, r.Priority(ctx, a.TenantID, c)), contract.ActionWorkflowName, contract.InputOf(a))
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil
	}
	return err
}

// Live overlays Temporal's view of a running action on what PostgreSQL recorded: whether
// an attempt is in flight or waiting to retry, with its attempt count and next attempt
// time. last_error is always the recorded one, the receiver's problem as the attempt saw
// it: a pending activity's failure can be Threada's own (its database unreachable) and is
// never shown. Closed runs whose outcome PostgreSQL lacks (terminated by an operator) get
// it recorded. When Temporal cannot be reached, the recorded state is the answer.
func (r *Runner) Live(ctx context.Context, a *domain.Action) *domain.Action {
	if domain.ActionTerminal(a.Status) || !a.Started || !r.Available() {
		return a
	}
	ctx, cancel := context.WithTimeout(ctx, gateway.CallTimeout)
	defer cancel()
	desc, err := r.client.DescribeWorkflowExecution(ctx, a.ID, "")
	r.Observe(err)
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
		case contract.AttemptActivityName:
			// The workflow records each attempt before starting the next, so PostgreSQL
			// already says queued or retrying; only an attempt in flight is news.
			if inFlight {
				a.Status, a.Attempts, a.NextAttemptAt = domain.ActionRunning, a.Attempts+1, nil
			}
		case contract.CallActivityName: // runs started before the attempt loop
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

// closed handles a run that ended: normally its outcome is already in PostgreSQL. One that
// is not (an operator terminated the run) is recorded here, through the same statement the
// workflow's activities record with, which keeps the first final status it is given.
func (r *Runner) closed(ctx context.Context, a *domain.Action, st enumspb.WorkflowExecutionStatus) *domain.Action {
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

// Wait holds until the action is terminal or d passes. It long-polls Temporal for the
// run's end when it can, and otherwise rereads PostgreSQL a few times a second. It holds
// no database connection while it waits.
func (r *Runner) Wait(ctx context.Context, a *domain.Action, d time.Duration) *domain.Action {
	// Its own clock, not the request's database deadline.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	defer cancel()
	for !domain.ActionTerminal(a.Status) && ctx.Err() == nil {
		if a.Started && r.Available() {
			err := r.client.GetWorkflow(ctx, a.ID, "").Get(ctx, nil)
			if ctx.Err() == nil {
				r.Observe(nilIfRunEnded(err))
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
		a = r.Live(context.WithoutCancel(ctx), fresh)
	}
	return a
}

// nilIfRunEnded hides the errors a closed run returns (failed, canceled), which say
// nothing about whether Temporal is reachable.
func nilIfRunEnded(err error) error {
	var wfErr *temporal.WorkflowExecutionError
	if errors.As(err, &wfErr) {
		return nil
	}
	return err
}

// Cancel asks Temporal to cancel a started action's run; the run records the cancel.
func (r *Runner) Cancel(ctx context.Context, a *domain.Action) error {
	ctx, cancel := context.WithTimeout(ctx, gateway.CallTimeout)
	defer cancel()
	err := r.client.CancelWorkflow(ctx, a.ID, "")
	r.Observe(err)
	if err != nil && !gateway.IsAnswer(err) {
		return domain.Errorf(domain.EUNAVAILABLE, "Actions cannot be canceled right now: the workflow service is unreachable. Retry shortly.")
	}
	return err
}

// Wake signals an action's run that its destination has a slot free (SignalSlotFree) and
// reports whether the run was there to get it: false when it has ended.
func (r *Runner) Wake(ctx context.Context, actionID string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, gateway.CallTimeout)
	defer cancel()
	err := r.client.SignalWorkflow(ctx, actionID, "", contract.SignalSlotFree, nil)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return false, nil
	}
	r.Observe(err)
	return err == nil, err
}

// UILink returns a run's address in the Temporal UI, or "" when no UI address is set.
func (r *Runner) UILink(workflowID string) string {
	if r.uiURL == "" {
		return ""
	}
	return r.uiURL + "/namespaces/" + r.namespace + "/workflows/" + workflowID
}

// StartReplay starts a bulk replay's workflow (its ID is the batch's; one already started
// counts as started). EUNAVAILABLE when Temporal cannot be reached.
func (r *Runner) StartReplay(ctx context.Context, b *domain.ReplayBatch) error {
	unavailable := domain.Errorf(domain.EUNAVAILABLE, "Bulk replays cannot start right now: the workflow service is unreachable. Retry shortly; nothing was replayed.")
	if !r.Available() {
		return unavailable
	}
	ctx, cancel := context.WithTimeout(sealing.WithTenant(ctx, b.TenantID), gateway.CallTimeout)
	defer cancel()
	_, err := r.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    b.ID,
		TaskQueue:             r.taskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(contract.SearchTenantID.ValueSet(b.TenantID)),
		StaticSummary:         fmt.Sprintf("replay of up to %d actions at %d/s", b.Matched, b.RatePerSecond),
		Priority:              r.Priority(ctx, b.TenantID, fairness.Bulk),
	}, contract.ReplayBatchWorkflowName, contract.ReplayBatchInput{BatchID: b.ID, RatePerSecond: b.RatePerSecond})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		err = nil
	}
	r.Observe(err)
	if err != nil {
		r.log.Warn("starting a bulk replay", "replay_id", b.ID, "err", err)
		return unavailable
	}
	return nil
}

// CancelReplay asks Temporal to stop a bulk replay's run. The batch is already marked
// canceled in PostgreSQL, which its steps check, so a failure here only delays the end.
func (r *Runner) CancelReplay(ctx context.Context, batchID string) {
	ctx, cancel := context.WithTimeout(ctx, gateway.CallTimeout)
	defer cancel()
	err := r.client.CancelWorkflow(ctx, batchID, "")
	r.Observe(err)
	if err != nil && !gateway.IsAnswer(err) {
		r.log.Warn("canceling a bulk replay's run; it stops at its next step", "replay_id", batchID, "err", err)
	}
}
