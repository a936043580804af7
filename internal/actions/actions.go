// Package actions is the one home of a custom_http action's lifecycle outside the workflow
// code: how its workflow is named, started and found (this file), how often an attempt is
// retried (policy.go), what an attempt sends (request.go), and what the API and the worker
// do with a run: start it, read its live status, wait for it, cancel it, replay it, and
// relay the starts that did not happen (runner.go, relay.go). The API and the worker both
// use it; the workflows and activities use its contract and policy, never the reverse, so
// the workflow code reads and writes PostgreSQL only through activities.
package actions

import (
	"fmt"
	"net/url"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/threada/threada/internal/domain"
)

// Workflow and activity types as Temporal records them, which ops see in the Temporal UI.
const (
	// WorkflowName is the type of an action's workflow; its ID is the action ID.
	WorkflowName = "CustomHTTPAction"
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

// Input starts an action's workflow.
type Input struct {
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
func InputOf(a *domain.Action) Input {
	return Input{ActionID: a.ID, TenantID: a.TenantID, TicketID: a.TicketID, Request: a.Request}
}
