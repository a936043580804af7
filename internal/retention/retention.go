// Package retention runs the tenants' retention (issue 22) in the worker: every Every, one
// worker at a time, each tenant's records past its settings go (store.ApplyRetention), in
// short batches, off the outbox's event loop.
package retention

import (
	"context"
	"log/slog"
	"time"

	"github.com/threada/threada/internal/store"
)

// Keeper runs retention passes.
type Keeper struct {
	Store *store.Store
	Log   *slog.Logger
	// Cancel and Disarm tell Temporal about what deleted tickets had running (nil: not told;
	// the runs find their rows gone and end).
	Cancel func(ctx context.Context, actionID string)
	Disarm func(ctx context.Context, timerID string, gen int64)
	Every  time.Duration // 0: DefaultEvery
}

// DefaultEvery is how often a pass runs.
const DefaultEvery = 10 * time.Minute

// tenantsPage is how many tenants a pass reads at a time.
const tenantsPage = 100

// Totals is what a pass did across tenants.
type Totals struct {
	Tenants, Tickets              int
	Attempts, Runs, Audit, Bodies int64
	Skipped                       bool // another worker held the pass
}

// Run makes a pass a minute after it starts, then every Every, until ctx ends.
func (k *Keeper) Run(ctx context.Context) {
	every := k.Every
	if every <= 0 {
		every = DefaultEvery
	}
	wait := time.Minute
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = every
		start := time.Now()
		t, err := k.Pass(ctx, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			k.Log.Warn("retention: a pass failed; the next one goes on from where it stopped", "err", err)
		case err == nil && !t.Skipped:
			k.Log.Info("retention: pass done", "tenants", t.Tenants, "tickets", t.Tickets, "attempts", t.Attempts, "runs", t.Runs,
				"audit", t.Audit, "bodies", t.Bodies, "seconds", time.Since(start).Seconds())
		}
	}
}

// Pass applies every tenant's retention as of now, unless another worker is making a pass.
func (k *Keeper) Pass(ctx context.Context, now time.Time) (Totals, error) {
	var t Totals
	ran, err := k.Store.Exclusively(ctx, func() error {
		after := ""
		for {
			tenants, err := k.Store.TenantsForRetention(ctx, after, tenantsPage)
			if err != nil {
				return err
			}
			for _, tn := range tenants {
				rep, err := k.Store.ApplyRetention(ctx, tn, now)
				k.forget(ctx, rep.ClosedTickets)
				if err != nil {
					return err
				}
				t.Tenants++
				t.Tickets += rep.ClosedTickets.Tickets()
				t.Attempts += rep.Attempts
				t.Runs += rep.Runs
				t.Audit += rep.Audit
				t.Bodies += rep.Bodies
				after = tn.TenantID
			}
			if len(tenants) < tenantsPage {
				return nil
			}
		}
	})
	t.Skipped = !ran && err == nil
	return t, err
}

// forget cancels the running actions and disarms the timers of deleted tickets.
func (k *Keeper) forget(ctx context.Context, d store.DeletedTicket) {
	if k.Cancel != nil {
		for _, id := range d.Running {
			k.Cancel(ctx, id)
		}
	}
	if k.Disarm != nil {
		for _, id := range d.TimerIDs {
			k.Disarm(ctx, id, d.Generation)
		}
	}
}

// erasurePoll is how long the erasure loop sleeps when no erasure has a step to take.
const erasurePoll = 2 * time.Second

// RunErasures carries out the tenants' erasures (store.StepErasure) until ctx ends: step
// after step while one gets anywhere, else every erasurePoll.
func (k *Keeper) RunErasures(ctx context.Context) {
	for ctx.Err() == nil {
		stepped, err := k.Store.StepErasure(ctx)
		if err != nil && ctx.Err() == nil {
			k.Log.Warn("erasure: a step failed; it is tried again", "err", err)
		}
		if err != nil || !stepped {
			select {
			case <-ctx.Done():
			case <-time.After(erasurePoll):
			}
		}
	}
}
