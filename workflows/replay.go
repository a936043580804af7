package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/threada/threada/activities"
	"github.com/threada/threada/internal/actions"
	"github.com/threada/threada/internal/domain"
)

// replayStepsPerRun bounds one run's history; the batch continues as a new run after it.
const replayStepsPerRun = 500

// ReplayBatchInput starts a bulk replay's workflow; its ID is the batch's.
type ReplayBatchInput = actions.ReplayBatchInput

// ActionReplayBatch replays a bulk replay's actions, RatePerSecond of them each second, until
// none is left. Each step is an activity that stores its replays with the batch's progress
// in one transaction, retried until PostgreSQL answers; the run survives worker and server
// restarts and continues as a new run every replayStepsPerRun steps. Canceling it stops
// the replays and records the batch as canceled.
func ActionReplayBatch(ctx workflow.Context, in ReplayBatchInput) error {
	var a *activities.Activities
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	for range replayStepsPerRun {
		var res activities.ReplayStepResult
		err := workflow.ExecuteActivity(actx, a.ReplayStep, activities.ReplayStepInput{BatchID: in.BatchID, Max: in.RatePerSecond}).Get(actx, &res)
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
		if err := workflow.Sleep(ctx, time.Second); err != nil {
			return finishReplay(ctx, in.BatchID, domain.ReplayBatchCanceled)
		}
	}
	return workflow.NewContinueAsNewError(ctx, actions.ReplayBatchWorkflowName, in)
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
