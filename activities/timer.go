package activities

import (
	"context"
	"time"
)

// FireTimerInput is a timer's generation that came due.
type FireTimerInput struct {
	TimerID    string
	Generation int64
}

// FireTimerResult says whether the timer fired, and the generation it continues with when
// it moved on to a next mark (an SLA warning's breach): Next 0 means it is done.
type FireTimerResult struct {
	Fired     bool
	Next      int64
	NextDueAt time.Time
}

// FireTimer turns a timer that came due into its outbox event, if it is still armed at
// that generation (see store.FireTimer). It is idempotent: the generation is used up once
// fired.
func (a *Activities) FireTimer(ctx context.Context, in FireTimerInput) (*FireTimerResult, error) {
	fired, next, err := a.Store.FireTimer(ctx, in.TimerID, in.Generation)
	if err != nil {
		return nil, err
	}
	out := &FireTimerResult{Fired: fired}
	if next != nil {
		out.Next, out.NextDueAt = next.Generation, next.DueAt
	}
	return out, nil
}
