package activities

import (
	"context"

	"github.com/threada/threada/internal/contract"
)

// FireTimer turns a timer that came due into its outbox event, if it is still armed at
// that generation (see store.FireTimer). It is idempotent: the generation is used up once
// fired.
func (a *Activities) FireTimer(ctx context.Context, in contract.FireTimerInput) (*contract.FireTimerResult, error) {
	fired, next, err := a.Store.FireTimer(ctx, in.TimerID, in.Generation)
	if err != nil {
		return nil, err
	}
	out := &contract.FireTimerResult{Fired: fired}
	if next != nil {
		out.Next, out.NextDueAt = next.Generation, next.DueAt
	}
	return out, nil
}
