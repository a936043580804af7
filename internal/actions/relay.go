package actions

import (
	"context"
	"log/slog"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/fairness"
)

// The relay looks for actions whose workflow is not started every RelayEvery, among those
// at least RelayMinAge old, so the creating process's own start goes first.
const (
	RelayEvery  = time.Second
	RelayMinAge = 3 * time.Second
	relayBatch  = 100
)

// Relay starts, until ctx ends, the workflows of queued actions nobody started: accepted
// while Temporal was unreachable, or left by a process that died between commit and
// start. Several workers may relay at once; the store claims rows with SKIP LOCKED. Unlike
// Start it tries Temporal even while the Runner thinks it unreachable: it is how the
// Runner learns that Temporal is back.
func (r *Runner) Relay(ctx context.Context) {
	RelayLoop(ctx, r.log, "start queued actions", func(ctx context.Context) (int, error) { return r.RelayOnce(ctx, RelayMinAge) })
}

// RelayLoop runs once every RelayEvery until ctx ends, logging what it did: one warning
// when it starts failing (not one a second while Temporal is down), and each round that
// did something. what names the work ("start queued actions").
func RelayLoop(ctx context.Context, log *slog.Logger, what string, once func(context.Context) (int, error)) {
	t := time.NewTicker(RelayEvery)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := once(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				log.Warn("relay cannot "+what+" yet", "err", err)
			}
			failing = true
		case n > 0:
			log.Info("relay: "+what, "count", n)
			failing = false
		default:
			failing = false
		}
	}
}

// RelayOnce starts the workflows of up to one batch of unstarted actions at least minAge
// old and returns how many it started.
func (r *Runner) RelayOnce(ctx context.Context, minAge time.Duration) (int, error) {
	return r.store.StartUnstarted(ctx, minAge, relayBatch, func(ctx context.Context, a *domain.Action) error {
		ctx, cancel := context.WithTimeout(ctx, CallTimeout)
		defer cancel()
		err := r.startWorkflow(ctx, a, fairness.ClassOf(a.Origin).Relayed())
		r.observe(err)
		return err
	})
}
