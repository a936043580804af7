package workflows

import (
	"context"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
)

// Worker tuning, measured in docs/benchmarks.md ("2026-11-30 production Temporal server").
const (
	// Pollers per task type. With the SDK's default of 2, tasks waited for a poller under
	// load: 8 gave about a quarter more actions per second on the production server.
	workflowTaskPollers = 8
	activityTaskPollers = 8
	// stickyTimeout is how long a workflow task waits on the sticky queue of the worker that
	// last ran the workflow before any worker may take it. With the SDK's 5 s, a worker that
	// died took 5 s from each of its cached workflows' next step: a timer due then fired 6 s
	// late (seen in TestTimerFiresOnTimeAcrossAWorkerCrash). A live worker's pollers take
	// sticky tasks within milliseconds, so 1 s costs nothing but the dead worker's delay.
	stickyTimeout = time.Second
)

// WorkerOptions are the options of the action worker; the worker binary and `make bench`
// use them.
func WorkerOptions(stopTimeout time.Duration) worker.Options {
	return worker.Options{
		WorkerStopTimeout:                stopTimeout,
		MaxConcurrentWorkflowTaskPollers: workflowTaskPollers,
		MaxConcurrentActivityTaskPollers: activityTaskPollers,
		StickyScheduleToStartTimeout:     stickyTimeout,
	}
}

// EagerStart is a client interceptor for a process that also runs the worker: the workflows
// it starts (automations' actions, the relay's) get their first workflow task in the
// answer to the start and run it at once when the worker has a free slot, instead of
// going through Temporal's matching (from a PATCH to the receiver, p50 93 -> 52 ms on the
// dev server, 61 -> 50 ms on the production server). It changes nothing where the client
// has no worker for the task queue, such as the API process.
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
	opts.EnableEagerStart = true
	in.Options = &opts
	return o.Next.ExecuteWorkflow(ctx, in)
}
