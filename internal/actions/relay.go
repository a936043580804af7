package actions

import (
	"context"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/fairness"
	"github.com/threada/threada/internal/gateway"
)

// relayBatch is how many unstarted actions one relay round starts.
const relayBatch = 100

// Relay starts, until ctx ends, the workflows of queued actions nobody started: accepted
// while Temporal was unreachable, or left by a process that died between commit and
// start. Several workers may relay at once; the store claims rows with SKIP LOCKED. Unlike
// Start it tries Temporal even while the Runner thinks it unreachable: it is how the
// Runner learns that Temporal is back.
func (r *Runner) Relay(ctx context.Context) {
	gateway.RelayLoop(ctx, r.log, "start queued actions", func(ctx context.Context) (int, error) { return r.RelayOnce(ctx, gateway.RelayMinAge) })
}

// RelayOnce starts the workflows of up to one batch of unstarted actions at least minAge
// old and returns how many it started.
func (r *Runner) RelayOnce(ctx context.Context, minAge time.Duration) (int, error) {
	return r.store.StartUnstarted(ctx, minAge, relayBatch, func(ctx context.Context, a *domain.Action) error {
		ctx, cancel := context.WithTimeout(ctx, gateway.CallTimeout)
		defer cancel()
		err := r.startWorkflow(ctx, a, fairness.ClassOf(a.Origin).Relayed())
		r.Observe(err)
		return err
	})
}
