// Package timers puts tickets' timers on Temporal: a delay automation's (see
// store.ArmDelay) and an SLA clock's. Each timer is one workflow (workflows.TicketTimer),
// its ID the timer's: signal-with-start arms it and re-arms it, and when it comes due it
// asks PostgreSQL to fire it (store.FireTimer), which turns it into an outbox event, so
// the firing goes through the automations engine like any ticket change.
//
// One workflow per timer rather than one per ticket: its history stays a handful of
// events (start, timer, fire, end; a re-arm adds a signal and a timer), a ticket's busy
// life never grows one history, disarming an automation is one batch cancel by its
// AutomationId signal, and the start is one signal-with-start call, whatever else the ticket has.
//
// Generations come from one PostgreSQL sequence and only grow: a workflow keeps the
// newest arm it got and ignores older ones, and a disarm is an arm with a newer
// generation and no due time, so signals that cross never lose a newer arm.
package timers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	batchpb "go.temporal.io/api/batch/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/fairness"
	"github.com/threada/threada/internal/gateway"
	"github.com/threada/threada/internal/sealing"
	"github.com/threada/threada/internal/store"
)

// Gate tells whether Temporal answered lately, and learns from each call
// (a gateway.Gate; actions.Runner embeds the process's): during an outage a process
// stops trying for a few seconds.
type Gate interface {
	Available() bool
	Observe(err error)
}

// Runner arms timers on Temporal for a process.
type Runner struct {
	client    client.Client
	store     *store.Store
	gate      Gate
	log       *slog.Logger
	namespace string
	taskQueue string
	weights   *fairness.Weights
	queue     *fairness.Queue[*store.Timer]
	full      atomic.Bool // the queue overflowed since the last log line
}

// Arms waiting for a sender, and the senders: the automations engine hands arms over
// without waiting for Temporal, so one event batch's arms (up to a hundred) go out
// together instead of holding the outbox one call at a time. The senders take tenants in
// turn, so one tenant's thousands of arms delay another's by one call, not thousands.
const (
	armQueue          = 2048
	armQueuePerTenant = 512
	armSenders        = 16
	// armSendersPerTenant: one tenant's arms go to Temporal one at a time per worker, so a
	// flood of them neither takes every sender nor loads the server with sixteen calls at
	// once: in TestTenantsShareTheEngine another tenant's actions p95 went from 3.5x their
	// own without the flood (4 at a time) to 2.2x (2: 3.1-3.4x).
	armSendersPerTenant = 1
)

// NewRunner returns a Runner; Run sends the arms that Arm queues.
func NewRunner(c client.Client, st *store.Store, gate Gate, log *slog.Logger, namespace, taskQueue string) *Runner {
	return &Runner{client: c, store: st, gate: gate, log: log, namespace: namespace, taskQueue: taskQueue,
		weights: fairness.NewWeights(st.DeliveryWeight), queue: fairness.NewQueue[*store.Timer](armQueue, armQueuePerTenant, armSendersPerTenant)}
}

// Arm queues a committed (re)arm for Run's senders and returns at once. When the queue has
// no room for it (the tenant's share or the whole), or Temporal cannot be reached, the
// timer stays unsynced in PostgreSQL and the relay arms it within seconds, tenants in turn
// there too: an arm is never lost, only late.
func (r *Runner) Arm(_ context.Context, t *store.Timer) {
	if !r.queue.Push(t.TenantID, t) && !r.full.Swap(true) {
		r.log.Warn("timer arms queue full; the relay arms the overflow within seconds", "queue", armQueue, "per_tenant", armQueuePerTenant)
	}
}

// Run sends queued arms and relays missed ones until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	var senders sync.WaitGroup
	for range armSenders {
		senders.Go(func() {
			for {
				_, t, done, ok := r.queue.Pop(ctx)
				if !ok {
					return
				}
				_ = r.ArmNow(ctx, t)
				done()
				r.full.Store(false)
			}
		})
	}
	r.Relay(ctx)
	senders.Wait()
}

// ArmNow gives a committed (re)arm to Temporal and records that it did. When Temporal
// cannot be reached the timer stays unsynced for the relay (Relay).
func (r *Runner) ArmNow(ctx context.Context, t *store.Timer) error {
	if !r.gate.Available() {
		return gateway.ErrUnreachable
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), gateway.CallTimeout)
	defer cancel()
	err := r.signal(ctx, t)
	r.gate.Observe(err)
	if err == nil {
		err = r.store.TimerSynced(ctx, t.ID, t.Generation)
	}
	if err != nil {
		r.log.Warn("timer not armed on Temporal yet; the relay will arm it", "timer_id", t.ID, "err", err)
	}
	return err
}

func (r *Runner) signal(ctx context.Context, t *store.Timer) error {
	attrs := []temporal.SearchAttributeUpdate{contract.SearchTenantID.ValueSet(t.TenantID), contract.SearchTicketID.ValueSet(t.TicketID)}
	summary := fmt.Sprintf("%s timer for %s", t.Kind, t.TicketID)
	if t.AutomationID != "" {
		attrs = append(attrs, contract.SearchAutomationID.ValueSet(t.AutomationID))
		summary = fmt.Sprintf("%s after %s on %s", t.AutomationID, t.EventType, t.TicketID)
	}
	_, err := r.client.SignalWithStartWorkflow(sealing.WithTenant(ctx, t.TenantID), t.ID, contract.SignalArm, contract.Arm{Generation: t.Generation, DueAt: t.DueAt},
		client.StartWorkflowOptions{
			ID:                    t.ID,
			TaskQueue:             r.taskQueue,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			TypedSearchAttributes: temporal.NewSearchAttributes(attrs...),
			StaticSummary:         summary,
			// A timer fires on time whoever armed it, the relay included.
			Priority: fairness.Priority(t.TenantID, r.weights.Get(ctx, t.TenantID), fairness.Automation),
		}, contract.TimerWorkflowName, contract.TimerInput{TimerID: t.ID, Generation: t.Generation, DueAt: t.DueAt})
	return err
}

// relayBatch is how many unsynced timers one relay round arms.
const relayBatch = 200

// Relay arms, until ctx ends, the timers whose (re)arm did not reach Temporal (Temporal was
// unreachable, or the process died after commit). It tries even while the gate says
// Temporal is down: it is how the gate learns it is back.
func (r *Runner) Relay(ctx context.Context) {
	gateway.RelayLoop(ctx, r.log, "arm timers", func(ctx context.Context) (int, error) { return r.RelayOnce(ctx, gateway.RelayMinAge) })
}

// RelayOnce arms up to one batch of unsynced timers at least minAge old.
func (r *Runner) RelayOnce(ctx context.Context, minAge time.Duration) (int, error) {
	return r.store.SyncTimers(ctx, minAge, relayBatch, func(ctx context.Context, t *store.Timer) error {
		ctx, cancel := context.WithTimeout(ctx, gateway.CallTimeout)
		defer cancel()
		err := r.signal(ctx, t)
		r.gate.Observe(err)
		return err
	})
}

// Disarm tells a timer's workflow that PostgreSQL disarmed it at generation gen (see
// store.SaveClocks): it ends, unless an arm newer than gen reached it. Best effort: a
// workflow that missed it finds nothing to fire when it comes due.
func (r *Runner) Disarm(ctx context.Context, timerID string, gen int64) {
	if !r.gate.Available() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), gateway.CallTimeout)
	defer cancel()
	err := r.client.SignalWorkflow(ctx, timerID, "", contract.SignalArm, contract.Arm{Generation: gen})
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		err = nil // it ended already
	}
	r.gate.Observe(err)
	if err != nil {
		r.log.Warn("disarming a timer's workflow; it ends doing nothing when due", "timer_id", timerID, "err", err)
	}
}

// DisarmAutomation tells the timer workflows of an automation whose timers PostgreSQL
// dropped (disabled, deleted, or its delay removed) that they are disarmed at generation
// gen: one Temporal batch operation that signals them all, so a timer armed again later
// (with a newer generation) is not affected. Best effort, like Disarm.
func (r *Runner) DisarmAutomation(ctx context.Context, automationID string, gen int64) {
	if !r.gate.Available() || !domain.ValidID(domain.PrefixAutomation, automationID) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), gateway.CallTimeout)
	defer cancel()
	err := signalByQuery(ctx, r.client, r.namespace,
		fmt.Sprintf("WorkflowType = '%s' AND AutomationId = '%s' AND ExecutionStatus = 'Running'", contract.TimerWorkflowName, automationID),
		contract.Arm{Generation: gen}, "automation "+automationID+" was disabled, deleted or lost its delay")
	r.gate.Observe(err)
	if err != nil {
		r.log.Warn("disarming an automation's timer workflows; they end doing nothing when due", "automation_id", automationID, "err", err)
	}
}

// signalByQuery starts a Temporal batch operation that sends arm to the timer workflows
// query finds.
func signalByQuery(ctx context.Context, c client.Client, namespace, query string, arm contract.Arm, reason string) error {
	input, err := converter.GetDefaultDataConverter().ToPayloads(arm)
	if err != nil {
		return err
	}
	_, err = c.WorkflowService().StartBatchOperation(ctx, &workflowservice.StartBatchOperationRequest{
		Namespace:       namespace,
		VisibilityQuery: query,
		JobId:           domain.NewID("batch"),
		Reason:          reason,
		Operation: &workflowservice.StartBatchOperationRequest_SignalOperation{
			SignalOperation: &batchpb.BatchOperationSignal{Signal: contract.SignalArm, Input: input, Identity: "threada"},
		},
	})
	return err
}
