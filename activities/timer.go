package activities

import "context"

// FireTimerInput is a timer's generation that came due.
type FireTimerInput struct {
	TimerID    string
	Generation int64
}

// FireTimer turns a timer that came due into its outbox event, if it is still armed at
// that generation (see store.FireTimer), and reports whether it did. It is idempotent:
// the timer is gone once fired.
func (a *Activities) FireTimer(ctx context.Context, in FireTimerInput) (bool, error) {
	return a.Store.FireTimer(ctx, in.TimerID, in.Generation)
}
