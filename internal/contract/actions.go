// Package contract is Threada's Temporal contract in one place: the names of every
// workflow, activity and signal, their inputs and results, the search attributes ops filter
// on, the retry and backoff policy, the activity error types and the default task queue.
// It imports only the domain and the SDK. The workflows (workflows/), their activities
// (activities/) and the runners that start and signal them (internal/actions, internal/timers)
// all speak it; the workflow code imports it, never the runners, so it cannot reach
// PostgreSQL but through activities (TestWorkflowCodeStaysOffTheDatabase).
package contract

import (
	"fmt"
	"net/url"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/threada/threada/internal/domain"
)

// DefaultTaskQueue is where every workflow and activity runs unless TEMPORAL_TASK_QUEUE
// names another (the API and the workers must agree).
const DefaultTaskQueue = "threada-actions"

// Workflow and activity types as Temporal records them, which ops see in the Temporal UI.
const (
	// ActionWorkflowName is the type of an action's workflow; its ID is the action ID.
	ActionWorkflowName = "CustomHTTPAction"
	// ReplayBatchWorkflowName is the type of a bulk replay's workflow; its ID is the batch's.
	ReplayBatchWorkflowName = "ActionReplayBatch"
	// AttemptActivityName is one attempt's activity (activities.Activities.SendAttempt).
	AttemptActivityName = "SendAttempt"
	// CallActivityName is the attempt activity of runs started before the attempt loop,
	// which Temporal retried itself (activities.Activities.CustomHTTPCall).
	CallActivityName = "CustomHTTPCall"
	// SignalSlotFree wakes an action's run whose attempt waits in its destination's line:
	// an attempt to that destination ended and gave its slot back.
	SignalSlotFree = "destination-slot-free"
)

// ActionInput starts an action's workflow.
type ActionInput struct {
	ActionID string
	TenantID string
	TicketID string
	Request  domain.ActionRequest
}

// ReplayBatchInput starts a bulk replay's workflow.
type ReplayBatchInput struct {
	BatchID       string
	RatePerSecond int
}

// Custom search attributes set on every action workflow, so ops can filter runs in the
// Temporal UI by tenant, ticket, type, destination host and outcome
// (`Destination = "hooks.example.com" AND ActionStatus = "failed"`). ActionStatus is
// "running" until the run ends, then its final status. The dev server registers them at
// start; a production namespace needs `temporal operator search-attribute create` once
// for each (scripts/temporal-server.sh does it).
var (
	SearchTenantID     = temporal.NewSearchAttributeKeyKeyword("TenantId")
	SearchTicketID     = temporal.NewSearchAttributeKeyKeyword("TicketId")
	SearchActionType   = temporal.NewSearchAttributeKeyKeyword("ActionType")
	SearchDestination  = temporal.NewSearchAttributeKeyKeyword("Destination")
	SearchActionStatus = temporal.NewSearchAttributeKeyKeyword("ActionStatus")
	// SearchAutomationID is set on timer workflows (internal/timers) of delay automations.
	SearchAutomationID = temporal.NewSearchAttributeKeyKeyword("AutomationId")
)

// SearchAttributeNames are the names of the attributes above, all of type Keyword: every
// custom search attribute Threada's workflows set.
var SearchAttributeNames = []string{"TenantId", "TicketId", "ActionType", "Destination", "ActionStatus", "AutomationId"}

// SearchAttributeFlags are the dev server's --search-attribute values for the above.
var SearchAttributeFlags = func() []string {
	out := make([]string, len(SearchAttributeNames))
	for i, n := range SearchAttributeNames {
		out[i] = n + "=Keyword"
	}
	return out
}()

// StartOptions are the options an action's workflow starts with: its ID is the action ID,
// and a second start with the same ID is refused, so an action runs at most once. pri is
// its place in the shared task queue (see internal/fairness); its attempts inherit it.
func StartOptions(taskQueue string, a *domain.Action, pri temporal.Priority) client.StartWorkflowOptions {
	// "POST hooks.example.com/hooks/zapier for tkt_...": the query string, which often
	// carries tokens, is left out.
	host, summary := "", a.Request.Method+" "+a.Request.URL+" for "+a.TicketID
	if u, err := url.Parse(a.Request.URL); err == nil {
		host = strings.ToLower(u.Hostname())
		summary = fmt.Sprintf("%s %s%s for %s", a.Request.Method, u.Host, u.EscapedPath(), a.TicketID)
	}
	return client.StartWorkflowOptions{
		ID:                    a.ID,
		TaskQueue:             taskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			SearchTenantID.ValueSet(a.TenantID),
			SearchTicketID.ValueSet(a.TicketID),
			SearchActionType.ValueSet(a.Type),
			SearchDestination.ValueSet(host),
			SearchActionStatus.ValueSet(domain.ActionRunning),
		),
		StaticSummary: summary,
		Priority:      pri,
	}
}

// InputOf is the workflow input of an action.
func InputOf(a *domain.Action) ActionInput {
	return ActionInput{ActionID: a.ID, TenantID: a.TenantID, TicketID: a.TicketID, Request: a.Request}
}
