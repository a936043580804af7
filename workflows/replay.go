package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/threada/threada/activities"
	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/domain"
)

// replayStepsPerRun bounds one run's history; the batch continues as a new run after it.
// Steps of a queued batch that only ask whether its turn has come count too.
const replayStepsPerRun = 500

// replayQueuedPoll is how long a queued batch waits before it asks again whether its
// tenant's running batch has ended: a cheap indexed read, and at most this much idle time
// between one batch and the next.
const replayQueuedPoll = 5 * time.Second

// ReplayBatchInput starts a bulk replay's workflow; its ID is the batch's.
type ReplayBatchInput = contract.ReplayBatchInput

// ActionReplayBatch replays a bulk replay's actions, RatePerSecond of them each second (fewer
// while domain.ReplayWindow of its replays are unfinished), until none is left. A batch
// created while another of its tenant's runs is queued: its steps replay nothing and ask
// again every replayQueuedPoll until it is the tenant's turn. Each step is an activity that
// stores its replays with the batch's progress in one transaction, retried until
// PostgreSQL answers; the run survives worker and server restarts and continues as a new
// run every replayStepsPerRun steps. Canceling it stops the replays and records the batch
// as canceled.
func ActionReplayBatch(ctx workflow.Context, in ReplayBatchInput) error {
	var a *activities.Activities
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// A step takes well under a second; a step whose worker died is taken up again
		// after this, not after a minute (a step is idempotent, and what it stored but did
		// not start, the relay starts).
		StartToCloseTimeout: 20 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	for range replayStepsPerRun {
		var res contract.ReplayStepResult
		err := workflow.ExecuteActivity(actx, a.ReplayStep, contract.ReplayStepInput{BatchID: in.BatchID, Max: in.RatePerSecond}).Get(actx, &res)
		switch {
		case temporal.IsCanceledError(err) || ctx.Err() != nil:
			return finishReplay(ctx, in.BatchID, domain.ReplayBatchCanceled)
		case err != nil:
			if ferr := finishReplay(ctx, in.BatchID, domain.ReplayBatchFailed); ferr != nil {
				return ferr
			}
			return err
		case res.Done:
			return nil
		}
		wait := time.Second
		if res.Queued {
			wait = replayQueuedPoll
		}
		if err := workflow.Sleep(ctx, wait); err != nil {
			return finishReplay(ctx, in.BatchID, domain.ReplayBatchCanceled)
		}
	}
	return workflow.NewContinueAsNewError(ctx, contract.ReplayBatchWorkflowName, in)
}

// finishReplay records how a batch ended, on a disconnected context so that a cancel does
// not stop the record; a canceled batch's run ends as canceled.
func finishReplay(ctx workflow.Context, batchID, status string) error {
	var a *activities.Activities
	rctx, _ := workflow.NewDisconnectedContext(ctx)
	rctx = workflow.WithActivityOptions(rctx, recordOptions)
	if err := workflow.ExecuteActivity(rctx, a.FinishReplay, batchID, status).Get(rctx, nil); err != nil {
		return err
	}
	if status == domain.ReplayBatchCanceled {
		return temporal.NewCanceledError()
	}
	return nil
}
