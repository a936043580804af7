package workflows

import (
	"strconv"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/threada/threada/activities"
	"github.com/threada/threada/internal/contract"
)

// timerSignalsPerRun bounds a timer's history: after this many re-arms the timer goes on
// as a new run.
const timerSignalsPerRun = 500

// TicketTimer is one ticket timer (see internal/timers): it waits until the due time of
// the latest generation it was armed with, a newer arm moving the time, then fires it
// through PostgreSQL (FireTimer, retried until PostgreSQL answers) and ends, unless a
// newer arm arrived meanwhile or the firing moved it on (an SLA warning to its breach). An
// arm without a due time disarms it: it ends. PostgreSQL's row decides whether a firing
// does anything.
func TicketTimer(ctx workflow.Context, in contract.TimerInput) error {
	gen, due := in.Generation, in.DueAt
	arms := workflow.GetSignalChannel(ctx, contract.SignalArm)
	take := func(a contract.Arm) bool {
		if a.Generation <= gen {
			return false
		}
		gen, due = a.Generation, a.DueAt
		return true
	}
	drain := func() (moved bool) {
		var a contract.Arm
		for arms.ReceiveAsync(&a) {
			moved = take(a) || moved
		}
		return moved
	}
	drain() // the arm that came with the start
	signals := 0
	for {
		if due.IsZero() {
			return nil // disarmed
		}
		if d := due.Sub(workflow.Now(ctx)); d > 0 {
			timerCtx, cancel := workflow.WithCancel(ctx)
			timer := workflow.NewTimer(timerCtx, d)
			fired := false
			sel := workflow.NewSelector(ctx)
			sel.AddFuture(timer, func(f workflow.Future) { fired = f.Get(ctx, nil) == nil })
			sel.AddReceive(arms, func(c workflow.ReceiveChannel, _ bool) {
				var a contract.Arm
				c.Receive(ctx, &a)
				take(a)
				signals++
			})
			sel.Select(ctx)
			if err := ctx.Err(); err != nil {
				return err
			}
			if !fired {
				cancel()
				if signals >= timerSignalsPerRun {
					drain()
					return workflow.NewContinueAsNewError(ctx, contract.TimerWorkflowName, contract.TimerInput{TimerID: in.TimerID, Generation: gen, DueAt: due})
				}
				continue
			}
		}
		var a *activities.Activities
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second,
			RetryPolicy:         recordOptions.RetryPolicy,
			Summary:             "fire generation " + strconv.FormatInt(gen, 10),
		})
		var res contract.FireTimerResult
		if err := workflow.ExecuteActivity(actx, a.FireTimer, contract.FireTimerInput{TimerID: in.TimerID, Generation: gen}).Get(actx, &res); err != nil {
			return err
		}
		moved := res.Next > 0 && take(contract.Arm{Generation: res.Next, DueAt: res.NextDueAt})
		if !drain() && !moved {
			return nil
		}
	}
}
