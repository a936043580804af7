package actions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/threada/threada/internal/config"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/fairness"
	"github.com/threada/threada/internal/sealing"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/internal/telemetry"
)

// unreachableBackoff is how long a Runner stops trying Temporal after a call failed to
// reach it: while Temporal is down, requests answer from PostgreSQL at once instead of
// each waiting out a connection attempt, and starts are left to the relay.
const unreachableBackoff = 5 * time.Second

// CallTimeout bounds one call to Temporal: a start, a describe, a cancel.
const CallTimeout = 3 * time.Second

// ErrUnreachable is Start's error while Temporal is known to be unreachable: the action
// stays queued for the relay.
var ErrUnreachable = errors.New("the workflow service is unreachable; the relay starts the action later")

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
	downUntil atomic.Int64 // unix nanos; Temporal is not tried before then, but by the relay
}

// NewRunner returns a Runner on c and st, for cfg's namespace, task queue and Temporal UI
// address (links to runs; none when TEMPORAL_UI_URL is unset).
func NewRunner(c client.Client, st *store.Store, log *slog.Logger, cfg config.Config) *Runner {
	return &Runner{client: c, store: st, log: log, namespace: cfg.TemporalNamespace, taskQueue: cfg.TaskQueue, uiURL: cfg.TemporalUIURL,
		weights: fairness.NewWeights(st.DeliveryWeight)}
}

// Priority is the Temporal priority of a tenant's work of class c, with the tenant's
// delivery weight (read at most every 30 s).
func (r *Runner) Priority(ctx context.Context, tenantID string, c fairness.Class) temporal.Priority {
	return fairness.Priority(tenantID, r.weights.Get(ctx, tenantID), c)
}

// Dial returns a lazy Temporal client: no connection is made until the first call. tel
// adds the SDK's metrics and tracing when they are on (nil: none); keys seals the payloads
// the client and its workers exchange with Temporal (nil: they go in the clear, as for a
// process without SECRETS_KEY).
func Dial(hostPort, namespace string, log *slog.Logger, tel *telemetry.Telemetry, keys *sealing.Keyring, interceptors ...interceptor.ClientInterceptor) (client.Client, error) {
	c, err := client.NewLazyClient(tel.ClientOptions(keys.ClientOptions(client.Options{
		HostPort:     hostPort,
		Namespace:    namespace,
		Logger:       tlog.NewStructuredLogger(log.With("component", "temporal-client")),
		Interceptors: interceptors,
	})))
	if err != nil {
		return nil, fmt.Errorf("configuring the Temporal client: %w", err)
	}
	return c, nil
}

// Client is the Runner's Temporal client.
func (r *Runner) Client() client.Client { return r.client }

func (r *Runner) available() bool { return time.Now().UnixNano() >= r.downUntil.Load() }

// Available says whether Temporal answered lately: false for a few seconds after a call
// failed to reach it, during which calls that can wait for a relay are not tried.
func (r *Runner) Available() bool { return r.available() }

// Observe notes whether a call to Temporal reached it (see Available).
func (r *Runner) Observe(err error) { r.observe(err) }

// observe notes whether a call reached Temporal.
func (r *Runner) observe(err error) {
	if err == nil || isAnswer(err) {
		r.downUntil.Store(0)
		return
	}
	if r.available() {
		r.log.Warn("Temporal unreachable; actions wait in PostgreSQL for the worker's relay", "err", err)
	}
	r.downUntil.Store(time.Now().Add(unreachableBackoff).UnixNano())
}

// isAnswer tells answers from Temporal (not found, already started, ...) from failures to
// reach it.
func isAnswer(err error) bool {
	var nf *serviceerror.NotFound
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	var failedPre *serviceerror.FailedPrecondition
	var invalid *serviceerror.InvalidArgument
	return errors.As(err, &nf) || errors.As(err, &started) || errors.As(err, &failedPre) || errors.As(err, &invalid)
}

// Start starts a committed action's workflow and records in PostgreSQL that it is
// started. Every path that creates an action (the API, automations, a bulk replay's
// steps) calls it after commit. If Temporal cannot be reached the action stays queued with
// workflow_started=false, and the relay starts it when Temporal is back: nothing accepted
// is lost, so callers only log the error. It runs on its own CallTimeout, whatever is left
// of ctx, so a request that ends does not leave its action to the relay.
func (r *Runner) Start(ctx context.Context, a *domain.Action) error {
	if !r.available() {
		return ErrUnreachable
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CallTimeout)
	defer cancel()
	err := r.startWorkflow(ctx, a, fairness.ClassOf(a.Origin))
	r.observe(err)
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
	_, err := r.client.ExecuteWorkflow(ctx, StartOptions(r.taskQueue, a, r.Priority(ctx, a.TenantID, c)), WorkflowName, InputOf(a))
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
	if domain.ActionTerminal(a.Status) || !a.Started || !r.available() {
		return a
	}
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
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
		case AttemptActivityName:
			// The workflow records each attempt before starting the next, so PostgreSQL
			// already says queued or retrying; only an attempt in flight is news.
			if inFlight {
				a.Status, a.Attempts, a.NextAttemptAt = domain.ActionRunning, a.Attempts+1, nil
			}
		case CallActivityName: // runs started before the attempt loop
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
		if a.Started && r.available() {
			err := r.client.GetWorkflow(ctx, a.ID, "").Get(ctx, nil)
			if ctx.Err() == nil {
				r.observe(nilIfRunEnded(err))
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
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	err := r.client.CancelWorkflow(ctx, a.ID, "")
	r.observe(err)
	if err != nil && !isAnswer(err) {
		return domain.Errorf(domain.EUNAVAILABLE, "Actions cannot be canceled right now: the workflow service is unreachable. Retry shortly.")
	}
	return err
}

// Wake signals an action's run that its destination has a slot free (SignalSlotFree) and
// reports whether the run was there to get it: false when it has ended.
func (r *Runner) Wake(ctx context.Context, actionID string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	err := r.client.SignalWorkflow(ctx, actionID, "", SignalSlotFree, nil)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return false, nil
	}
	r.observe(err)
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
	if !r.available() {
		return unavailable
	}
	ctx, cancel := context.WithTimeout(sealing.WithTenant(ctx, b.TenantID), CallTimeout)
	defer cancel()
	_, err := r.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    b.ID,
		TaskQueue:             r.taskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(SearchTenantID.ValueSet(b.TenantID)),
		StaticSummary:         fmt.Sprintf("replay of up to %d actions at %d/s", b.Matched, b.RatePerSecond),
		Priority:              r.Priority(ctx, b.TenantID, fairness.Bulk),
	}, ReplayBatchWorkflowName, ReplayBatchInput{BatchID: b.ID, RatePerSecond: b.RatePerSecond})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		err = nil
	}
	r.observe(err)
	if err != nil {
		r.log.Warn("starting a bulk replay", "replay_id", b.ID, "err", err)
		return unavailable
	}
	return nil
}

// CancelReplay asks Temporal to stop a bulk replay's run. The batch is already marked
// canceled in PostgreSQL, which its steps check, so a failure here only delays the end.
func (r *Runner) CancelReplay(ctx context.Context, batchID string) {
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	err := r.client.CancelWorkflow(ctx, batchID, "")
	r.observe(err)
	if err != nil && !isAnswer(err) {
		r.log.Warn("canceling a bulk replay's run; it stops at its next step", "replay_id", batchID, "err", err)
	}
}
