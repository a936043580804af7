package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

type replayBatchJSON struct {
	Replay struct {
		ReplayID    string  `json:"replay_id"`
		Status      string  `json:"status"`
		Matched     int     `json:"matched"`
		Replayed    int     `json:"replayed"`
		CompletedAt *string `json:"completed_at"`
	} `json:"replay"`
}

// replayQueueEnv drives bulk replays of tenants whose receiver can be held: while held,
// every call waits until it is let go, as a receiver that never answers quickly.
type replayQueueEnv struct {
	*testEnv
	failing, held atomic.Bool
	release       chan struct{}
	letGo         func() // the held calls answer, and later ones at once
	rc            *receiver
}

func newReplayQueueEnv(t *testing.T) *replayQueueEnv {
	e, _ := newActionEnv(t)
	q := &replayQueueEnv{testEnv: e, release: make(chan struct{})}
	q.failing.Store(true)
	q.rc = newReceiver(t, func(_ int, w http.ResponseWriter) {
		if q.failing.Load() {
			w.WriteHeader(http.StatusBadRequest) // permanent: the originals fail at once
			return
		}
		if q.held.Load() {
			select {
			case <-q.release:
			case <-time.After(time.Minute):
			}
		}
		w.WriteHeader(http.StatusOK)
	})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(q.release) }) }) // before the receiver closes
	q.letGo = func() { once.Do(func() { close(q.release) }) }
	return q
}

// failedOriginals makes n failed actions of a new tenant and returns its fixture.
func (q *replayQueueEnv) failedOriginals(n int) actionFixture {
	q.t.Helper()
	f := q.actionFixture(q.rc.URL)
	for range n {
		if resp := q.postAction(f, referenceAction(), nil); resp.Status != http.StatusCreated {
			q.t.Fatalf("original: %d %s", resp.Status, resp.Body)
		}
	}
	q.waitFor("the originals to fail", func() bool {
		var failed int
		err := q.store.DB().NewRaw("SELECT count(*) FROM actions WHERE tenant_id = ? AND status = 'failed'", f.tenant).Scan(context.Background(), &failed)
		return err == nil && failed == n
	})
	return f
}

func (q *replayQueueEnv) waitFor(what string, done func() bool) {
	q.t.Helper()
	for deadline := time.Now().Add(45 * time.Second); !done(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			q.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (q *replayQueueEnv) create(f actionFixture) *response {
	now := time.Now().UTC()
	return q.do(req{method: "POST", path: "/api/v1/admin/action-replays", key: f.key, body: map[string]any{"rate_per_second": 100,
		"filter": map[string]any{"status": "failed", "since": now.Add(-time.Hour).Format(time.RFC3339), "until": now.Add(time.Minute).Format(time.RFC3339)}}})
}

func (q *replayQueueEnv) mustCreate(f actionFixture, wantStatus string) string {
	q.t.Helper()
	resp := q.create(f)
	var r replayBatchJSON
	if resp.Status != http.StatusCreated {
		q.t.Fatalf("create: %d %s", resp.Status, resp.Body)
	}
	if resp.decode(q.t, &r); r.Replay.Status != wantStatus {
		q.t.Fatalf("created %s, want %s", r.Replay.Status, wantStatus)
	}
	return r.Replay.ReplayID
}

func (q *replayQueueEnv) get(f actionFixture, id string) replayBatchJSON {
	q.t.Helper()
	var r replayBatchJSON
	q.do(req{method: "GET", path: "/api/v1/admin/action-replays/" + id, key: f.key}).decode(q.t, &r)
	return r
}

func (q *replayQueueEnv) cancel(f actionFixture, id string) replayBatchJSON {
	q.t.Helper()
	resp := q.do(req{method: "POST", path: "/api/v1/admin/action-replays/" + id + "/cancel", key: f.key})
	if resp.Status != http.StatusOK {
		q.t.Fatalf("cancel: %d %s", resp.Status, resp.Body)
	}
	var r replayBatchJSON
	resp.decode(q.t, &r)
	return r
}

// unfinishedSampler counts, every 20 ms until stopped, each batch's replays that have no
// outcome yet, and keeps the most it saw per batch.
func (q *replayQueueEnv) unfinishedSampler() (stop func() map[string]int) {
	var mu sync.Mutex
	most := map[string]int{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			var rows []struct {
				BatchID string `bun:"replay_batch_id"`
				N       int    `bun:"n"`
			}
			if err := q.store.DB().NewRaw("SELECT replay_batch_id, count(*) AS n FROM actions WHERE replay_batch_id IS NOT NULL AND status IN (?) GROUP BY 1",
				bun.In([]string{domain.ActionQueued, domain.ActionRunning, domain.ActionRetrying})).Scan(ctx, &rows); err == nil {
				mu.Lock()
				for _, r := range rows {
					most[r.BatchID] = max(most[r.BatchID], r.N)
				}
				mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return func() map[string]int {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return most
	}
}

// TestBulkReplaysTakeTurnsPerTenant: against a receiver that does not answer, tenant A's
// first bulk replay runs with no more than domain.ReplayWindow replays unfinished, its
// second waits queued (and the console says so) while tenant B's runs alongside; a queued
// one can be canceled, at most domain.MaxQueuedReplays wait and one more is refused with
// nothing created; once the receiver answers the first ends, then the second runs.
func TestBulkReplaysTakeTurnsPerTenant(t *testing.T) {
	q := newReplayQueueEnv(t)
	const originals = domain.ReplayWindow + 8
	a := q.failedOriginals(originals)
	b := q.failedOriginals(2)
	q.failing.Store(false)
	q.held.Store(true)
	stopSampling := q.unfinishedSampler()

	a1 := q.mustCreate(a, domain.ReplayBatchRunning)
	a2 := q.mustCreate(a, domain.ReplayBatchQueued)
	b1 := q.mustCreate(b, domain.ReplayBatchRunning)

	// B is not behind A: its replay runs through while A's first is still running.
	q.waitFor("tenant B's replay", func() bool { return q.get(b, b1).Replay.Status == domain.ReplayBatchSucceeded })
	// A's first stops at the window while its receiver holds every call.
	q.waitFor("the window to fill", func() bool { return q.get(a, a1).Replay.Replayed == domain.ReplayWindow })
	time.Sleep(3 * time.Second)
	if r := q.get(a, a1).Replay; r.Status != domain.ReplayBatchRunning || r.Replayed != domain.ReplayWindow {
		t.Errorf("first replay, receiver held: %+v", r)
	}
	if r := q.get(a, a2).Replay; r.Status != domain.ReplayBatchQueued || r.Replayed != 0 {
		t.Errorf("second replay, first running: %+v", r)
	}

	// The console shows the queued one waiting, polled, and stoppable.
	cc := newConsoleClient(t, q.serveHTTP())
	cc.signIn(q.newKey(a.tenant, domain.ScopeAdminActions))
	if _, page := cc.get("/admin/replays/" + a2); !strings.Contains(page, `s-queued">queued</span>`) || !strings.Contains(page, "waits for the replays ahead of it") ||
		!strings.Contains(page, `hx-get="/admin/replays/`+a2+`"`) || !strings.Contains(page, "Stop replaying") {
		t.Errorf("console, queued replay:\n%s", page)
	}

	// A queued replay canceled ends having replayed nothing.
	a3 := q.mustCreate(a, domain.ReplayBatchQueued)
	if r := q.cancel(a, a3).Replay; r.Status != domain.ReplayBatchCanceled || r.Replayed != 0 || r.CompletedAt == nil {
		t.Errorf("canceled while queued: %+v", r)
	}

	// Ten may wait (a2 and nine more); the next is refused and changes nothing.
	var waiting []string
	for range domain.MaxQueuedReplays - 1 {
		waiting = append(waiting, q.mustCreate(a, domain.ReplayBatchQueued))
	}
	count := func(sql string) int {
		var n int
		if err := q.store.DB().NewRaw(sql, a.tenant).Scan(context.Background(), &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	batches, audits := count("SELECT count(*) FROM action_replay_batches WHERE tenant_id = ?"),
		count("SELECT count(*) FROM audit_events WHERE tenant_id = ? AND action = 'action_replay.create'")
	refused := q.create(a)
	wantError(t, refused, http.StatusConflict, "conflict_error", "")
	if msg := refused.apiError(t).Message; !strings.Contains(msg, "at most 10 may wait") || !strings.Contains(msg, "Nothing was created") {
		t.Errorf("refusal: %q", msg)
	}
	_, page := cc.get("/admin/replays")
	form := url.Values{"csrf_token": {csrfOf(t, page)}, "since": {time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04")},
		"until": {time.Now().UTC().Add(time.Hour).Format("2006-01-02T15:04")}, "status": {"failed"}, "rate_per_second": {"10"}, "dry_run": {"false"}}
	if status, page := cc.post("/admin/replays", form); status != http.StatusBadRequest || !strings.Contains(page, "at most 10 may wait") {
		t.Errorf("console, queue full: %d\n%s", status, page)
	}
	if n, m := count("SELECT count(*) FROM action_replay_batches WHERE tenant_id = ?"),
		count("SELECT count(*) FROM audit_events WHERE tenant_id = ? AND action = 'action_replay.create'"); n != batches || m != audits {
		t.Errorf("a refused create left %d batches (was %d), %d audit events (was %d)", n, batches, m, audits)
	}
	for _, id := range waiting {
		q.cancel(a, id)
	}

	// The receiver answers: the first ends, then the second runs it all again.
	q.letGo()
	q.waitFor("the first replay", func() bool { return q.get(a, a1).Replay.Status == domain.ReplayBatchSucceeded })
	q.waitFor("the second replay", func() bool { return q.get(a, a2).Replay.Status == domain.ReplayBatchSucceeded })
	most := stopSampling()
	for _, id := range []string{a1, a2, b1} {
		if most[id] > domain.ReplayWindow {
			t.Errorf("%s had %d replays unfinished at once, more than the window (%d)", id, most[id], domain.ReplayWindow)
		}
	}
	if most[a1] < domain.ReplayWindow/2 {
		t.Errorf("the sampler saw at most %d of the first replay's unfinished: it did not watch the window", most[a1])
	}
	var firstEnded time.Time
	var secondBegan time.Time
	ctx := context.Background()
	if err := q.store.DB().NewRaw("SELECT completed_at FROM action_replay_batches WHERE id = ?", a1).Scan(ctx, &firstEnded); err != nil {
		t.Fatal(err)
	}
	if err := q.store.DB().NewRaw("SELECT min(created_at) FROM actions WHERE replay_batch_id = ?", a2).Scan(ctx, &secondBegan); err != nil {
		t.Fatal(err)
	}
	if secondBegan.Before(firstEnded) {
		t.Errorf("the second replay began at %v, before the first ended at %v", secondBegan, firstEnded)
	}
	for _, id := range []string{a1, a2} {
		if r := q.get(a, id).Replay; r.Replayed != originals {
			t.Errorf("%s replayed %d, want %d", id, r.Replayed, originals)
		}
	}
}
