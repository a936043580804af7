package workflows

import (
	"context"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"github.com/threada/threada/internal/fairness"
)

// Worker tuning, measured in docs/benchmarks.md ("2026-11-30 production Temporal server").
const (
	// Pollers per task type. With the SDK's default of 2, tasks waited for a poller under
	// load: 8 gave about a quarter more actions per second on the production server.
	workflowTaskPollers = 8
	activityTaskPollers = 8
)

// DisableStickyExecution makes this process's workers cache no workflow, so every workflow
// task goes through the task queue, where Temporal dispatches tenants fairly. A cached
// workflow's next task goes to its worker's sticky queue instead, which Temporal serves
// first in, first out: when a tenant's thousand timers fired at once, another tenant's
// timer behind them waited its worker's 1 s sticky timeout, then 8 s more in the history
// service's queue of the thousand tasks that timed out with it (TestTenantsShareTheEngine;
// with no cache, 1.4 s). Threada's workflows have short histories, so replaying one costs
// less than the round trips of its task: actions per second went from 31.7 to 33.4 (noise)
// without the cache on the dev server. Call it before the first worker starts.
func DisableStickyExecution() { worker.SetStickyWorkflowCacheSize(0) }

// WorkerOptions are the options of the action worker; the worker binary and `make bench`
// use them.
func WorkerOptions(stopTimeout time.Duration) worker.Options {
	return worker.Options{
		WorkerStopTimeout:                stopTimeout,
		MaxConcurrentWorkflowTaskPollers: workflowTaskPollers,
		MaxConcurrentActivityTaskPollers: activityTaskPollers,
	}
}

// EagerStart is a client interceptor for a process that also runs the worker: the urgent
// workflows it starts (automations' actions: priority classes up to fairness.Automation)
// get their first workflow task in the answer to the start and run it at once when the
// worker has a free slot, instead of going through Temporal's matching (from a PATCH to the
// receiver, p50 93 -> 52 ms on the dev server, 61 -> 50 ms on the production server).
// Catch-up and bulk work goes through matching, where it yields to other tenants. It
// changes nothing where the client has no worker for the task queue, such as the API
// process.
type EagerStart struct {
	interceptor.ClientInterceptorBase
}

// InterceptClient implements interceptor.ClientInterceptor.
func (*EagerStart) InterceptClient(next interceptor.ClientOutboundInterceptor) interceptor.ClientOutboundInterceptor {
	return &eagerStartOutbound{ClientOutboundInterceptorBase: interceptor.ClientOutboundInterceptorBase{Next: next}}
}

type eagerStartOutbound struct {
	interceptor.ClientOutboundInterceptorBase
}

func (o *eagerStartOutbound) ExecuteWorkflow(ctx context.Context, in *interceptor.ClientExecuteWorkflowInput) (client.WorkflowRun, error) {
	opts := *in.Options
	opts.EnableEagerStart = opts.Priority.PriorityKey <= int(fairness.Automation)
	in.Options = &opts
	return o.Next.ExecuteWorkflow(ctx, in)
}
