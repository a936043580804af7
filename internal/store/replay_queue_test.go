package store_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// replayFixture makes finished originals for a tenant and bulk replays of them.
type replayFixture struct {
	t   *testing.T
	s   *store.Store
	ctx context.Context
}

func newReplayFixture(t *testing.T) replayFixture {
	return replayFixture{t: t, s: dbtest.New(t), ctx: context.Background()}
}

// originals stores n failed actions of a tenant, oldest first.
func (f replayFixture) originals(tenant string, n int) []string {
	f.t.Helper()
	d, err := f.s.CreateTicket(f.ctx, tenant, domain.TicketCreate{Subject: "s", Status: "open", Priority: "normal", Channel: "api"})
	if err != nil {
		f.t.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		a := &domain.Action{ID: domain.NewID(domain.PrefixAction), TenantID: tenant, TicketID: d.Ticket.ID, Type: domain.ActionTypeCustomHTTP,
			RequestedBy: "api_key:k", Request: domain.ActionRequest{Method: "POST", URL: "https://hooks.example.com/x"}}
		if err := f.s.CreateAction(f.ctx, a); err != nil {
			f.t.Fatal(err)
		}
		if _, err := f.s.RecordAttempt(f.ctx, a.ID, domainResult(domain.ActionFailed)); err != nil {
			f.t.Fatal(err)
		}
		ids[i] = a.ID
	}
	return ids
}

// create stores a bulk replay of the tenant's last hour.
func (f replayFixture) create(tenant string) (*domain.ReplayBatch, error) {
	now := time.Now()
	b := &domain.ReplayBatch{ID: domain.NewID(domain.PrefixReplayBatch), TenantID: tenant, RatePerSecond: 10, RequestedBy: "api_key:k",
		Filter: domain.ReplayFilter{Since: now.Add(-time.Hour), Until: now.Add(time.Hour)}}
	return b, f.s.CreateReplayBatch(f.ctx, b)
}

func (f replayFixture) mustCreate(tenant, wantStatus string) *domain.ReplayBatch {
	f.t.Helper()
	b, err := f.create(tenant)
	if err != nil {
		f.t.Fatal(err)
	}
	if b.Status != wantStatus {
		f.t.Fatalf("created %s, want %s", b.Status, wantStatus)
	}
	return b
}

// step runs one ReplayNext of up to n, replaying every original as is.
func (f replayFixture) step(batchID string, n int) store.ReplayStep {
	f.t.Helper()
	st, err := f.s.ReplayNext(f.ctx, batchID, n, func(o *domain.Action) (*domain.Action, bool) {
		return &domain.Action{TenantID: o.TenantID, TicketID: o.TicketID, Type: o.Type, RequestedBy: "api_key:k", Request: o.Request, ReplayOf: o.ID}, true
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

func (f replayFixture) status(id string) string {
	f.t.Helper()
	b, err := f.s.GetReplayBatch(f.ctx, "", id)
	if err != nil {
		f.t.Fatal(err)
	}
	return b.Status
}

// TestReplayBatchesTakeTurnsPerTenant: a tenant's second and third replays are queued
// behind its running one and replay nothing; another tenant's runs meanwhile; when the
// first ends the oldest queued one runs (not the newer); a queued one canceled ends
// without replaying; once none waits or runs, a new one runs at once.
func TestReplayBatchesTakeTurnsPerTenant(t *testing.T) {
	f := newReplayFixture(t)
	a, b := newTenant(t, f.s), newTenant(t, f.s)
	f.originals(a, 3)
	f.originals(b, 3)

	a1 := f.mustCreate(a, domain.ReplayBatchRunning)
	a2 := f.mustCreate(a, domain.ReplayBatchQueued)
	a3 := f.mustCreate(a, domain.ReplayBatchQueued)
	b1 := f.mustCreate(b, domain.ReplayBatchRunning)

	for _, tc := range []struct {
		name      string
		batch     *domain.ReplayBatch
		wantQueue bool
		wantMade  int
	}{
		{"a2 waits for a1", a2, true, 0},
		{"a3 waits for a1", a3, true, 0},
		{"b1 runs alongside a1", b1, false, 3},
		{"a1 runs", a1, false, 3},
		{"a3 still waits: a2 is older", a3, true, 0},
	} {
		st := f.step(tc.batch.ID, 10)
		if st.Queued != tc.wantQueue || len(st.Created) != tc.wantMade {
			t.Errorf("%s: queued %v, %d replayed; want %v, %d", tc.name, st.Queued, len(st.Created), tc.wantQueue, tc.wantMade)
		}
	}
	if got := f.status(a1.ID); got != domain.ReplayBatchSucceeded {
		t.Errorf("a1 is %s", got)
	}

	// Canceled while queued, a3 ends having replayed nothing, and a2 runs.
	if ok, err := f.s.FinishReplayBatch(f.ctx, a, a3.ID, domain.ReplayBatchCanceled); err != nil || !ok {
		t.Fatalf("cancel of a queued batch: %v %v", ok, err)
	}
	if st := f.step(a3.ID, 10); !st.Done || st.Queued || len(st.Created) != 0 {
		t.Errorf("canceled queued batch stepped: %+v", st)
	}
	if got, _ := f.s.GetReplayBatch(f.ctx, a, a3.ID); got.Status != domain.ReplayBatchCanceled || got.Replayed != 0 || got.CompletedAt == nil {
		t.Errorf("canceled queued batch: %+v", got)
	}
	if st := f.step(a2.ID, 10); st.Queued || len(st.Created) != 3 || !st.Done {
		t.Errorf("a2 once a1 is done: %+v", st)
	}
	f.mustCreate(a, domain.ReplayBatchRunning)
}

// TestReplayQueueIsBounded: of 12 creates at once for one tenant, one runs, ten wait and
// one is refused (ECONFLICT, nothing stored); another tenant is not affected; a place
// freed by a cancel can be taken again.
func TestReplayQueueIsBounded(t *testing.T) {
	f := newReplayFixture(t)
	a, b := newTenant(t, f.s), newTenant(t, f.s)
	var mu sync.Mutex
	got := map[string]int{}
	var refused []error
	var wg sync.WaitGroup
	for range domain.MaxQueuedReplays + 2 {
		wg.Go(func() {
			bt, err := f.create(a)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				refused = append(refused, err)
				return
			}
			got[bt.Status]++
		})
	}
	wg.Wait()
	if got[domain.ReplayBatchRunning] != 1 || got[domain.ReplayBatchQueued] != domain.MaxQueuedReplays || len(refused) != 1 {
		t.Fatalf("created %v, refused %v", got, refused)
	}
	if domain.ErrorCode(refused[0]) != domain.ECONFLICT || !strings.Contains(refused[0].Error(), "at most 10 may wait") {
		t.Errorf("refusal: %v", refused[0])
	}
	var rows int
	if err := f.s.DB().NewRaw("SELECT count(*) FROM action_replay_batches WHERE tenant_id = ?", a).Scan(f.ctx, &rows); err != nil || rows != 11 {
		t.Errorf("%d batches stored (%v), want 11", rows, err)
	}
	f.mustCreate(b, domain.ReplayBatchRunning)

	var queuedID string
	if err := f.s.DB().NewRaw("SELECT id FROM action_replay_batches WHERE tenant_id = ? AND status = 'queued' LIMIT 1", a).Scan(f.ctx, &queuedID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.FinishReplayBatch(f.ctx, a, queuedID, domain.ReplayBatchCanceled); err != nil {
		t.Fatal(err)
	}
	f.mustCreate(a, domain.ReplayBatchQueued)
	if _, err := f.create(a); domain.ErrorCode(err) != domain.ECONFLICT {
		t.Errorf("a 12th batch: %v", err)
	}
}

// TestReplayWindow: a running batch never has more than domain.ReplayWindow unfinished
// replays, whatever its rate, and starts at most domain.ReplayStepMax a step: it creates
// more only as earlier ones finish, and replays each original exactly once in the end.
// While another tenant has live work, its window is domain.ReplayWindowShared.
func TestReplayWindow(t *testing.T) {
	if domain.ReplayWindow != 32 || domain.ReplayWindowShared != 4 || domain.ReplayStepMax != 8 {
		t.Fatal("the steps below are worked out for a window of 32, a shared one of 4 and 8 a step")
	}
	f := newReplayFixture(t)
	a, other := newTenant(t, f.s), newTenant(t, f.s)
	originals := f.originals(a, 50)
	batch := f.mustCreate(a, domain.ReplayBatchRunning)

	var made []string
	finish := func(n int) {
		for _, id := range made[:n] {
			if _, err := f.s.RecordAttempt(f.ctx, id, store.AttemptResult{Attempt: 1, Status: domain.ActionSucceeded}); err != nil {
				t.Fatal(err)
			}
		}
		made = made[n:]
	}
	live := func() { // another tenant's client starts an action, still queued
		f.originals(other, 1)
		if _, err := f.s.DB().NewRaw("UPDATE actions SET status = 'queued', completed_at = NULL, created_at = now() WHERE tenant_id = ?", other).Exec(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	quiet := func() {
		if _, err := f.s.DB().NewRaw("UPDATE actions SET status = 'succeeded' WHERE tenant_id = ?", other).Exec(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name     string
		before   func()
		finish   int // of the unfinished replays, before the step
		wantMade int
		wantDone bool
	}{
		{"a step starts at most ReplayStepMax", nil, 0, 8, false},
		{"and the next as many", nil, 0, 8, false},
		{"another tenant's live work: the shared window is full", live, 0, 0, false},
		{"it still is with 12 finished", nil, 12, 0, false},
		{"with 13 finished: one more, to the shared window", nil, 1, 1, false},
		{"quiet again: a step's worth", quiet, 0, 8, false},
		{"and another", nil, 0, 8, false},
		{"and another", nil, 0, 8, false},
		{"up to the window, no further", nil, 0, 4, false},
		{"full: waits", nil, 0, 0, false},
		{"5 finished: the last 5", nil, 5, 5, false},
		{"all finished: done", nil, 32, 0, true},
	} {
		if tc.before != nil {
			tc.before()
		}
		finish(tc.finish)
		st := f.step(batch.ID, 100)
		for _, a := range st.Created {
			made = append(made, a.ID)
		}
		if len(st.Created) != tc.wantMade || st.Done != tc.wantDone {
			t.Errorf("%s: %d replayed, done %v; want %d, %v", tc.name, len(st.Created), st.Done, tc.wantMade, tc.wantDone)
		}
		if len(made) > domain.ReplayWindow {
			t.Errorf("%s: %d unfinished replays", tc.name, len(made))
		}
	}
	var once int
	if err := f.s.DB().NewRaw("SELECT count(DISTINCT replay_of) FROM actions WHERE replay_batch_id = ? AND replay_of IN (?)", batch.ID, bun.In(originals)).
		Scan(f.ctx, &once); err != nil || once != len(originals) {
		t.Errorf("%d originals replayed (%v), want %d", once, err, len(originals))
	}
	var total int
	if err := f.s.DB().NewRaw("SELECT count(*) FROM actions WHERE replay_batch_id = ?", batch.ID).Scan(f.ctx, &total); err != nil || total != len(originals) {
		t.Errorf("%d replays (%v), want %d", total, err, len(originals))
	}
}

// TestReplayPromotionThatLosesARaceWaits: a queued batch whose promotion collides with
// another batch of its tenant becoming running (the unique index) just stays queued.
func TestReplayPromotionThatLosesARaceWaits(t *testing.T) {
	f := newReplayFixture(t)
	a := newTenant(t, f.s)
	a1 := f.mustCreate(a, domain.ReplayBatchRunning)
	a2 := f.mustCreate(a, domain.ReplayBatchQueued)
	if _, err := f.s.FinishReplayBatch(f.ctx, a, a1.ID, domain.ReplayBatchCanceled); err != nil {
		t.Fatal(err)
	}
	// Another process makes a batch of the tenant running and has not committed yet.
	tx, err := f.s.DB().BeginTx(f.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(f.ctx, `INSERT INTO action_replay_batches (id, tenant_id, filter, rate_per_second, status, matched, requested_by, created_at, updated_at)
		VALUES (?, ?, '{}', 1, 'running', 0, 'x', now(), now())`, domain.NewID(domain.PrefixReplayBatch), a); err != nil {
		t.Fatal(err)
	}
	type result struct {
		st  store.ReplayStep
		err error
	}
	done := make(chan result)
	go func() {
		st, err := f.s.ReplayNext(f.ctx, a2.ID, 10, func(*domain.Action) (*domain.Action, bool) { return nil, false })
		done <- result{st, err}
	}()
	time.Sleep(300 * time.Millisecond) // the promotion waits on the index entry
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.err != nil || !r.st.Queued || len(r.st.Created) != 0 {
		t.Errorf("step: %+v, %v", r.st, r.err)
	}
	if got := f.status(a2.ID); got != domain.ReplayBatchQueued {
		t.Errorf("a2 is %s", got)
	}
}

// TestReplayQueueMigration: the migration keeps each tenant's oldest running batch running
// and queues the others, which older data may have, before it adds the unique index.
func TestReplayQueueMigration(t *testing.T) {
	f := newReplayFixture(t)
	read := func(name string) string {
		b, err := os.ReadFile("../../migrations/20261207000002_replay_queue.tx." + name + ".sql")
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if _, err := f.s.DB().ExecContext(f.ctx, read("down")); err != nil {
		t.Fatalf("down: %v", err)
	}
	a, b := newTenant(t, f.s), newTenant(t, f.s)
	base := time.Now().Add(-time.Hour)
	insert := func(tenant, status string, age time.Duration) string {
		id := domain.NewID(domain.PrefixReplayBatch)
		if _, err := f.s.DB().ExecContext(f.ctx, `INSERT INTO action_replay_batches (id, tenant_id, filter, rate_per_second, status, matched, requested_by, created_at, updated_at)
			VALUES (?, ?, '{}', 1, ?, 0, 'x', ?, ?)`, id, tenant, status, base.Add(age), base.Add(age)); err != nil {
			t.Fatal(err)
		}
		return id
	}
	done := insert(a, domain.ReplayBatchSucceeded, 0)
	oldest := insert(a, domain.ReplayBatchRunning, time.Minute)
	second := insert(a, domain.ReplayBatchRunning, 2*time.Minute)
	third := insert(a, domain.ReplayBatchRunning, 3*time.Minute)
	other := insert(b, domain.ReplayBatchRunning, 3*time.Minute)
	if _, err := f.s.DB().ExecContext(f.ctx, read("up")); err != nil {
		t.Fatalf("up: %v", err)
	}
	for id, want := range map[string]string{done: domain.ReplayBatchSucceeded, oldest: domain.ReplayBatchRunning,
		second: domain.ReplayBatchQueued, third: domain.ReplayBatchQueued, other: domain.ReplayBatchRunning} {
		if got := f.status(id); got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
	if st := f.step(third, 10); !st.Queued {
		t.Errorf("the newest waits for the second: %+v", st)
	}
}
