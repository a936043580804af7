package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/threada/threada/internal/domain"
)

// The outbox, second half: a worker processes the events it claimed (outbox_claim.go) in
// batches, each event in a savepoint, failures noted and, past MaxEventAttempts, set aside.

// ProcessNextEvent claims one event and runs fn on it (see ClaimEvents and
// ProcessClaimedEvents), returning fn's error. It returns the event's tenant, or "" when
// no event waits for an automation.
func (s *Store) ProcessNextEvent(ctx context.Context, fn EventFunc) (string, error) {
	for {
		c, err := s.ClaimEvents(ctx, 1)
		if err != nil {
			return "", err
		}
		if len(c.Events) > 0 {
			ev := c.Events[0]
			_, errs, err := s.ProcessClaimedEvents(ctx, []string{ev.ID}, time.Time{}, fn)
			if err != nil {
				return ev.TenantID, err
			}
			return ev.TenantID, errs[0]
		}
		if c.Empty() && !c.Contended {
			return "", nil
		}
	}
}

// ProcessClaimedEvents runs fn on claimed events, in order, in one transaction that also
// records their runs and marks each processed: an event's effects, its runs and its mark
// commit together, or none does, and a batch costs one commit and one insert of runs.
// First the batch runs straight through; if an event fails, that is rolled back and the
// batch runs again with each event in a savepoint, so one that fails undoes only its own
// effects: it waits eventRetryDelay with its error, and after MaxEventAttempts attempts it
// is set aside, its tenant's automations getting a run that says so. The claims (one more
// attempt each) were committed before, so a worker that dies while evaluating still used
// an attempt; ClaimEvents hands an event that was already tried out alone, so a poison
// event cannot use up the attempts of its batch-mates. Past until (if set) it stops and
// returns how many it processed; the rest are still claimed. errs holds fn's error for
// each event processed.
func (s *Store) ProcessClaimedEvents(ctx context.Context, ids []string, until time.Time, fn EventFunc) (done int, errs []error, err error) {
	done, errs, err = s.processBatch(ctx, ids, until, fn, false)
	if errors.Is(err, errEventFailed) {
		done, errs, err = s.processBatch(ctx, ids, until, fn, true)
	}
	return done, errs, err
}

// errEventFailed ends a batch run straight through when one of its events fails.
var errEventFailed = errors.New("store: an event of the batch failed")

func (s *Store) processBatch(ctx context.Context, ids []string, until time.Time, fn EventFunc, careful bool) (done int, errs []error, err error) {
	err = s.InTx(ctx, func(tx *Conn) error {
		done, errs = 0, errs[:0]
		// The batch's prepared statements (batch_sql.go) are planned for the values at hand:
		// a plan kept from when a table was small would outlive its size.
		if _, err := tx.db.ExecContext(ctx, "SET LOCAL plan_cache_mode = force_custom_plan"); err != nil {
			return err
		}
		// By id alone, so that only the primary key can serve it: with "processed_at IS
		// NULL" in the query, a planner whose statistics lag the outbox's growth ANDed the
		// key with the pending events' partial index and read all of that index for every
		// batch (issue 21: a tenth of the database's CPU under load). Locked rows are read as
		// their latest version, so one another worker processed meanwhile shows as such.
		var rows []eventRow
		if err := tx.scanPrepared(ctx, lockEventsSQL, &rows, textArray(ids)); err != nil {
			return err
		}
		byID := make(map[string]*eventRow, len(rows))
		for i := range rows {
			if rows[i].ProcessedAt == nil {
				byID[rows[i].ID] = &rows[i]
			}
		}
		var processed []string
		var runs []domain.AutomationRun
		for _, id := range ids {
			if done > 0 && !until.IsZero() && time.Now().After(until) {
				break
			}
			done++
			row, ok := byID[id]
			if !ok {
				errs = append(errs, nil) // another worker finished it after our lease ran out
				continue
			}
			if row.Attempts > MaxEventAttempts {
				errs = append(errs, nil)
				if err := tx.setEventAside(ctx, row, "the worker stopped while handling it"); err != nil {
					return err
				}
				continue
			}
			if !careful {
				r, err := fn(ctx, tx, row.toDomain())
				if err != nil {
					return errEventFailed
				}
				errs, runs, processed = append(errs, nil), append(runs, r...), append(processed, id)
				continue
			}
			fnErr, err := tx.processEvent(ctx, row, fn)
			if err != nil {
				return err
			}
			errs = append(errs, fnErr)
			if fnErr == nil {
				processed = append(processed, id)
			}
		}
		if err := tx.FlushTicketWrites(ctx); err != nil {
			if careful {
				return err
			}
			return errEventFailed // each event's own, in the careful run, says whose
		}
		if err := tx.RecordRuns(ctx, runs); err != nil {
			return err
		}
		if len(processed) == 0 {
			return nil
		}
		_, err := tx.execPrepared(ctx, markProcessedSQL, now(), textArray(processed))
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return done, errs, nil
}

// The batch's statements, prepared (see prepared.go): an id list is one array parameter,
// so every batch, whatever its size, runs the one statement.
var (
	lockEventsSQL = newPrepared(`SELECT id, tenant_id, ticket_id, type, actor, depth, chain, caused_by, payload, occurred_at, processed_at, attempts, last_error
	FROM ticket_events WHERE id = ANY ($1::text[]) FOR UPDATE`)
	markProcessedSQL = newPrepared(`UPDATE ticket_events SET processed_at = $1 WHERE id = ANY ($2::text[])`)
)

// EventFunc handles one claimed event: it writes the event's effects through tx, the
// transaction that marks the event processed, and returns the runs to record for it.
type EventFunc func(ctx context.Context, tx *Conn, ev *domain.TicketEvent) ([]domain.AutomationRun, error)

// processEvent runs fn on one locked event in a savepoint, with its runs; the caller marks
// it processed when fn succeeded.
func (tx *Conn) processEvent(ctx context.Context, row *eventRow, fn EventFunc) (fnErr, err error) {
	// A savepoint, so a failing fn undoes its own effects but not the bookkeeping.
	fnErr = tx.inSavepoint(ctx, func() error {
		runs, err := fn(ctx, tx, row.toDomain())
		if err == nil {
			err = tx.FlushTicketWrites(ctx)
		}
		if err != nil {
			return err
		}
		return tx.RecordRuns(ctx, runs)
	})
	if fnErr != nil {
		return fnErr, tx.noteEventFailure(ctx, row, fnErr)
	}
	return nil, nil
}

// inSavepoint runs fn so that its failure undoes its writes, and forgets the after-commit
// work it registered, while the enclosing transaction goes on.
func (tx *Conn) inSavepoint(ctx context.Context, fn func() error) error {
	hooks, deferred := len(tx.tx.after), len(tx.tx.deferred)
	if _, err := tx.db.ExecContext(ctx, "SAVEPOINT process_event"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		tx.tx.after = tx.tx.after[:hooks]
		tx.tx.deferred = tx.tx.deferred[:deferred]
		if _, rerr := tx.db.ExecContext(ctx, "ROLLBACK TO SAVEPOINT process_event"); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	_, err := tx.db.ExecContext(ctx, "RELEASE SAVEPOINT process_event")
	return err
}

func (tx *Conn) noteEventFailure(ctx context.Context, row *eventRow, cause error) error {
	if row.Attempts >= MaxEventAttempts {
		return tx.setEventAside(ctx, row, cause.Error())
	}
	_, err := tx.db.NewUpdate().Table("ticket_events").
		Set("last_error = ?", cause.Error()).
		Set("claimed_until = clock_timestamp() + ? * interval '1 millisecond'", eventRetryDelay.Milliseconds()).
		Where("id = ?", row.ID).Exec(ctx)
	return err
}

// setEventAside ends an event that kept failing: it is marked processed and dead with its
// error, and each of the tenant's automations that would have evaluated it gets a run
// saying so, so the run history shows it.
func (tx *Conn) setEventAside(ctx context.Context, row *eventRow, cause string) error {
	reason := fmt.Sprintf("event set aside after %d attempts: %s", row.Attempts, cause)
	if _, err := tx.db.NewUpdate().Table("ticket_events").
		Set("processed_at = ?", now()).Set("dead = true").Set("last_error = ?", reason).
		Where("id = ?", row.ID).Exec(ctx); err != nil {
		return err
	}
	autos, err := tx.EnabledAutomations(ctx, row.TenantID, row.Type)
	if err != nil {
		return err
	}
	runs := make([]domain.AutomationRun, len(autos))
	for i, a := range autos {
		runs[i] = domain.AutomationRun{TenantID: row.TenantID, AutomationID: a.ID, AutomationVersion: a.Version,
			EventID: row.ID, EventType: row.Type, TicketID: row.TicketID, Error: reason}
	}
	return tx.RecordRuns(ctx, runs)
}
