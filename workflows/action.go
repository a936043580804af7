// Package workflows holds Threada's Temporal workflows: one file per workflow, with its
// input, task queue and how to start it.
package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/threada/threada/activities"
	"github.com/threada/threada/internal/config"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// TaskQueue is the default task queue of action workflows and their activities
// (TEMPORAL_TASK_QUEUE overrides it).
const TaskQueue = config.DefaultTaskQueue

// ActionWorkflowName is the workflow type ops see in the Temporal UI.
const ActionWorkflowName = "CustomHTTPAction"

// Custom search attributes set on every action workflow, so ops can filter runs in the
// Temporal UI by tenant, ticket or type. The dev server registers them at start; a
// production namespace needs `temporal operator search-attribute create` once.
var (
	SearchTenantID   = temporal.NewSearchAttributeKeyKeyword("TenantId")
	SearchTicketID   = temporal.NewSearchAttributeKeyKeyword("TicketId")
	SearchActionType = temporal.NewSearchAttributeKeyKeyword("ActionType")
)

// SearchAttributeFlags are the dev server's --search-attribute values for the above.
var SearchAttributeFlags = []string{"TenantId=Keyword", "TicketId=Keyword", "ActionType=Keyword"}

// attemptGrace is added to an action's timeout_ms for the activity's StartToClose: room to
// record the outcome after the call itself has timed out.
const attemptGrace = 5 * time.Second

// ActionInput starts an action workflow. The workflow ID is the action ID.
type ActionInput struct {
	ActionID string
	TenantID string
	TicketID string
	Request  domain.ActionRequest
}

// Register registers the workflows and activities on a worker; the worker binary and the
// end-to-end tests share it.
func Register(w worker.Registry, acts *activities.Activities) {
	w.RegisterWorkflowWithOptions(CustomHTTPAction, workflow.RegisterOptions{Name: ActionWorkflowName})
	w.RegisterActivity(acts)
}

// CustomHTTPAction performs one custom_http action: a single activity makes each attempt
// and records its outcome in PostgreSQL, retried by Temporal with exponential backoff
// (1 s, x2, at most 5 min apart) up to max_attempts. The happy path is exactly one
// activity; only a cancel, or an outcome the activity could not record, adds one more.
func CustomHTTPAction(ctx workflow.Context, in ActionInput) (*activities.CallResult, error) {
	var a *activities.Activities
	callCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Duration(in.Request.TimeoutMS)*time.Millisecond + attemptGrace,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
			MaximumAttempts:    int32(in.Request.MaxAttempts),
		},
	})
	var res activities.CallResult
	err := workflow.ExecuteActivity(callCtx, a.CustomHTTPCall, activities.CallInput{
		ActionID: in.ActionID, TenantID: in.TenantID, Request: in.Request,
	}).Get(callCtx, &res)
	if err == nil {
		return &res, nil
	}

	status, recorded := outcomeOf(ctx, err)
	if !recorded {
		recordCtx, _ := workflow.NewDisconnectedContext(ctx)
		recordCtx = workflow.WithActivityOptions(recordCtx, workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second,
			RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute},
		})
		rerr := workflow.ExecuteActivity(recordCtx, a.RecordActionOutcome, activities.OutcomeInput{
			ActionID: in.ActionID, Status: status, LastError: errorMessage(err),
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

// outcomeOf maps the call's final error to the action status, and says whether the
// activity already recorded it.
func outcomeOf(ctx workflow.Context, err error) (status string, recorded bool) {
	var appErr *temporal.ApplicationError
	switch {
	case temporal.IsCanceledError(err) || errors.Is(ctx.Err(), workflow.ErrCanceled):
		return domain.ActionCanceled, false
	case errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeRecorded:
		return "", true
	case temporal.IsTimeoutError(err):
		return domain.ActionTimedOut, false
	}
	return domain.ActionFailed, false
}

// errorMessage is the innermost message of a workflow-side error, the one ops and clients
// should read (e.g. "POST https://hooks.example.com/x: 503 Service Unavailable").
func errorMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		return "the attempt did not finish within its timeout (the worker may have stopped)"
	}
	if temporal.IsCanceledError(err) {
		return "canceled"
	}
	return err.Error()
}

// StartOptions are the options an action's workflow starts with: its ID is the action ID,
// and a second start with the same ID is refused, so an action runs at most once.
func StartOptions(taskQueue string, a *domain.Action) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                    a.ID,
		TaskQueue:             taskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			SearchTenantID.ValueSet(a.TenantID),
			SearchTicketID.ValueSet(a.TicketID),
			SearchActionType.ValueSet(a.Type),
		),
	}
}

// StartAction starts the workflow of an action. An action whose workflow already exists
// counts as started.
func StartAction(ctx context.Context, c client.Client, taskQueue string, a *domain.Action) error {
	_, err := c.ExecuteWorkflow(ctx, StartOptions(taskQueue, a), ActionWorkflowName, ActionInput{
		ActionID: a.ID, TenantID: a.TenantID, TicketID: a.TicketID, Request: a.Request,
	})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil
	}
	return err
}

// StartAndMark starts an action's workflow and records in PostgreSQL that it is started.
// When the start fails the action stays queued for the worker's relay.
func StartAndMark(ctx context.Context, c client.Client, st *store.Store, taskQueue string, a *domain.Action) error {
	if err := StartAction(ctx, c, taskQueue, a); err != nil {
		return err
	}
	if err := st.MarkStarted(ctx, a.ID); err != nil {
		return fmt.Errorf("marking action %s started: %w", a.ID, err)
	}
	a.Started = true
	return nil
}
