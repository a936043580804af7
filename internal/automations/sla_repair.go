package automations

import (
	"context"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// Repair timings: the worker looks for running clocks without a due date at start and
// then hourly, and repairs them in batches of repairBatch, tenants in turn.
const (
	repairEvery  = time.Hour
	repairBatch  = 100
	repairRounds = 100 // batches a look repairs at most; the rest waits for the next
)

// RepairClocks gives a due date to running SLA clocks that have none, at once and then
// every repairEvery until ctx ends. Before issue 19's fix a calendar that the day walk
// could not compute left its clocks with due_at null: never warned, never breached.
// The ticket's next event would set it, but a quiet ticket may have none;
// this does not wait for one. Since the fix every running clock gets a due date, so after
// the first look the partial index ticket_slas_undated is empty and a look costs nothing.
func (e *Engine) RepairClocks(ctx context.Context) {
	tick := time.NewTicker(repairEvery)
	defer tick.Stop()
	for {
		for range repairRounds {
			n, err := e.RepairClocksOnce(ctx, repairBatch, time.Now())
			if err != nil && ctx.Err() == nil {
				e.Log.Warn("automations: repairing SLA clocks without a due date failed; trying again later", "err", err)
			}
			if n > 0 {
				e.Log.Info("automations: gave SLA clocks their missing due date", "count", n)
			}
			if err != nil || n < repairBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// RepairClocksOnce repairs up to limit running clocks without a due date as of now, in one
// transaction: the due and warning instants their policy's calendar gives (as an event
// would, domain.RedateClock), and their timer armed for the next mark (given to Temporal
// after commit, or by the timers relay). A clock already breached keeps no timer, as on an
// event. It returns how many it repaired.
func (e *Engine) RepairClocksOnce(ctx context.Context, limit int, now time.Time) (int, error) {
	n := 0
	err := e.Store.InTx(ctx, func(tx *store.Conn) error {
		clocks, err := tx.LockUndatedClocks(ctx, limit)
		if err != nil {
			return err
		}
		var timers []store.TimerChange
		for _, u := range clocks {
			plan := []domain.ClockChange{domain.RedateClock(*u.Clock, &u.Policy, now)}
			changed, err := tx.SaveClocks(ctx, u.TenantID, u.TicketID, plan)
			if err != nil {
				return err
			}
			timers = append(timers, changed...)
		}
		if len(timers) > 0 {
			tx.AfterCommit(ctx, func(ctx context.Context) {
				for _, t := range timers {
					e.handOver(ctx, t)
				}
			})
		}
		n = len(clocks)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
