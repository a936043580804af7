package main

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threada/threada/internal/webhook"
)

// TestReplayAction: a failed action replayed succeeds as a new action whose calls carry
// the original's webhook-id and Idempotency-Key (a replay of the replay too), signed; the
// replay honours Idempotency-Key; an action still running cannot be replayed, nor can
// another tenant's.
func TestReplayAction(t *testing.T) {
	e, _ := newActionEnv(t)
	rc := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			w.WriteHeader(http.StatusBadRequest) // permanent: the action fails at once
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	f := e.actionFixture(rc.URL)
	orig := decodeAction(t, e.postAction(f, referenceAction(), map[string]string{"Prefer": "wait=20"}))
	if orig.Status != "failed" {
		t.Fatalf("original: %s", orig.Status)
	}
	replay := func(id string, header map[string]string) *response {
		return e.do(req{method: "POST", path: "/api/v1/public/actions/" + id + "/replay", key: f.key, header: header})
	}
	header := map[string]string{"Prefer": "wait=20", "Idempotency-Key": "replay-1"}
	resp := replay(orig.ActionID, header)
	if resp.Status != http.StatusCreated {
		t.Fatalf("replay: %d %s", resp.Status, resp.Body)
	}
	r1 := decodeAction(t, resp)
	if r1.ActionID == orig.ActionID || deref(r1.ReplayOf) != orig.ActionID || r1.Status != "succeeded" || r1.Attempts != 1 {
		t.Fatalf("replay: %+v (replay_of %s)", r1, deref(r1.ReplayOf))
	}
	again := replay(orig.ActionID, header)
	if again.Header.Get("Idempotent-Replayed") != "true" || decodeAction(t, again).ActionID != r1.ActionID {
		t.Errorf("the same Idempotency-Key made another replay: %s", again.Body)
	}
	r2 := decodeAction(t, replay(r1.ActionID, map[string]string{"Prefer": "wait=20"}))
	if deref(r2.ReplayOf) != r1.ActionID || r2.Status != "succeeded" {
		t.Fatalf("replay of the replay: %+v", r2)
	}
	got := rc.requests()
	if len(got) != 3 {
		t.Fatalf("receiver got %d calls, want 3", len(got))
	}
	for i, r := range got {
		if r.Header.Get("Idempotency-Key") != orig.ActionID || r.Header.Get("webhook-id") != orig.ActionID {
			t.Errorf("call %d: Idempotency-Key %q, webhook-id %q, want the original's %s", i+1, r.Header.Get("Idempotency-Key"), r.Header.Get("webhook-id"), orig.ActionID)
		}
		if err := webhook.Verify(e.secrets[f.tenant], r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"),
			r.Header.Get("webhook-signature"), []byte(r.Body), time.Now(), 5*time.Minute); err != nil {
			t.Errorf("call %d: signature: %v", i+1, err)
		}
	}

	busy := newReceiver(t, func(_ int, w http.ResponseWriter) {
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	g := e.actionFixture(busy.URL)
	body := referenceAction()
	body["payload"].(map[string]any)["max_attempts"] = 10
	running := decodeAction(t, e.postAction(g, body, nil))
	wantError(t, e.do(req{method: "POST", path: "/api/v1/public/actions/" + running.ActionID + "/replay", key: g.key}), http.StatusConflict, "conflict_error", "")
	wantError(t, e.do(req{method: "POST", path: "/api/v1/public/actions/" + orig.ActionID + "/replay", key: g.key}), http.StatusNotFound, "not_found_error", "")
}

// TestBulkReplay: a dry run counts and samples the matching finished actions and starts
// nothing; a real run replays exactly those (not another tenant's, not those of another
// status) at its rate, reports progress, is audited, and can be canceled.
func TestBulkReplay(t *testing.T) {
	e, _ := newActionEnv(t)
	var failing atomic.Bool
	failing.Store(true)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter) {
		if failing.Load() {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	f := e.actionFixture(rc.URL)
	other := e.actionFixture(rc.URL)
	var originals []string
	for range 5 {
		a := decodeAction(t, e.postAction(f, referenceAction(), map[string]string{"Prefer": "wait=20"}))
		if a.Status != "failed" {
			t.Fatalf("original: %s", a.Status)
		}
		originals = append(originals, a.ActionID)
	}
	decodeAction(t, e.postAction(other, referenceAction(), map[string]string{"Prefer": "wait=20"}))
	failing.Store(false)
	calls := len(rc.requests())

	now := time.Now().UTC()
	filter := map[string]any{"status": "failed", "since": now.Add(-time.Hour).Format(time.RFC3339), "until": now.Add(time.Minute).Format(time.RFC3339)}
	post := func(key string, body map[string]any) *response {
		return e.do(req{method: "POST", path: "/api/v1/admin/action-replays", key: key, body: body})
	}
	var dry struct {
		DryRun  bool         `json:"dry_run"`
		Matched int          `json:"matched"`
		Samples []actionJSON `json:"samples"`
	}
	resp := post(f.key, map[string]any{"filter": filter, "dry_run": true})
	if resp.Status != http.StatusOK {
		t.Fatalf("dry run: %d %s", resp.Status, resp.Body)
	}
	resp.decode(t, &dry)
	if !dry.DryRun || dry.Matched != 5 || len(dry.Samples) != 5 || dry.Samples[0].ActionID != originals[0] {
		t.Fatalf("dry run: %+v", dry)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(rc.requests()); n != calls {
		t.Fatalf("the dry run made %d calls", n-calls)
	}

	type replayJSON struct {
		Replay struct {
			ReplayID string `json:"replay_id"`
			Status   string `json:"status"`
			Matched  int    `json:"matched"`
			Replayed int    `json:"replayed"`
		} `json:"replay"`
	}
	var started replayJSON
	resp = post(f.key, map[string]any{"filter": filter, "rate_per_second": 2})
	if resp.Status != http.StatusCreated {
		t.Fatalf("replay: %d %s", resp.Status, resp.Body)
	}
	resp.decode(t, &started)
	if started.Replay.Status != "running" || started.Replay.Matched != 5 {
		t.Fatalf("started: %+v", started.Replay)
	}
	get := func(id, key string) *response {
		return e.do(req{method: "GET", path: "/api/v1/admin/action-replays/" + id, key: key})
	}
	var progress replayJSON
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if get(started.Replay.ReplayID, f.key).decode(t, &progress); progress.Replay.Status != "running" {
			break
		}
	}
	if progress.Replay.Status != "succeeded" || progress.Replay.Replayed != 5 {
		t.Fatalf("progress: %+v", progress.Replay)
	}
	for deadline := time.Now().Add(20 * time.Second); len(rc.requests()) < calls+5 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	replayed := map[string]int{}
	for _, r := range rc.requests()[calls:] {
		replayed[r.Header.Get("Idempotency-Key")]++
	}
	for _, id := range originals {
		if replayed[id] != 1 {
			t.Errorf("original %s replayed %d times", id, replayed[id])
		}
	}
	if len(replayed) != len(originals) {
		t.Errorf("replayed %v, want exactly the 5 originals", replayed)
	}
	wantError(t, get(started.Replay.ReplayID, other.key), http.StatusNotFound, "not_found_error", "")
	audit := e.do(req{method: "GET", path: "/api/v1/admin/audit-events?action=action_replay.create", key: f.key})
	var events listJSON[map[string]any]
	if audit.decode(t, &events); len(events.Items) != 1 {
		t.Errorf("%d audit events for the replay", len(events.Items))
	}

	// A slow one, canceled at once, stops short.
	var slow replayJSON
	post(f.key, map[string]any{"filter": filter, "rate_per_second": 1}).decode(t, &slow)
	cancel := func() *response {
		return e.do(req{method: "POST", path: "/api/v1/admin/action-replays/" + slow.Replay.ReplayID + "/cancel", key: f.key})
	}
	var canceled replayJSON
	if resp := cancel(); resp.Status != http.StatusOK {
		t.Fatalf("cancel: %d %s", resp.Status, resp.Body)
	} else {
		resp.decode(t, &canceled)
	}
	time.Sleep(2 * time.Second)
	get(slow.Replay.ReplayID, f.key).decode(t, &progress)
	if canceled.Replay.Status != "canceled" || progress.Replay.Status != "canceled" || progress.Replay.Replayed >= 5 {
		t.Errorf("after cancel: %+v, then %+v", canceled.Replay, progress.Replay)
	}
	wantError(t, cancel(), http.StatusConflict, "conflict_error", "")
}

// TestBulkReplayRefusesBadInput: the window is required and bounded, only finished
// statuses, a sane rate, and the admin.actions scope.
func TestBulkReplayRefusesBadInput(t *testing.T) {
	e := newTestEnv(t)
	tenant, key := e.tenantWithKey()
	now := time.Now().UTC()
	window := func(since, until time.Time) map[string]any {
		return map[string]any{"since": since.Format(time.RFC3339), "until": until.Format(time.RFC3339)}
	}
	for _, tc := range []struct {
		body  map[string]any
		param string
	}{
		{map[string]any{}, "filter"},
		{map[string]any{"filter": map[string]any{"until": now.Format(time.RFC3339)}}, "filter.since"},
		{map[string]any{"filter": window(now.Add(-31*24*time.Hour), now)}, "filter.until"},
		{map[string]any{"filter": window(now, now.Add(-time.Hour))}, "filter.until"},
		{map[string]any{"filter": map[string]any{"status": "queued", "since": now.Add(-time.Hour).Format(time.RFC3339), "until": now.Format(time.RFC3339)}}, "filter.status"},
		{map[string]any{"filter": window(now.Add(-time.Hour), now), "rate_per_second": 0}, "rate_per_second"},
		{map[string]any{"filter": window(now.Add(-time.Hour), now), "rate_per_second": 101}, "rate_per_second"},
		{map[string]any{"filter": map[string]any{"host": ".", "since": now.Add(-time.Hour).Format(time.RFC3339), "until": now.Format(time.RFC3339)}}, "filter.host"},
	} {
		wantError(t, e.do(req{method: "POST", path: "/api/v1/admin/action-replays", key: key, body: tc.body}), http.StatusBadRequest, "invalid_request_error", tc.param)
	}
	narrow := e.newKey(tenant, "support.actions")
	wantError(t, e.do(req{method: "POST", path: "/api/v1/admin/action-replays", key: narrow, body: map[string]any{"filter": window(now.Add(-time.Hour), now), "dry_run": true}}),
		http.StatusForbidden, "permission_error", "")
}
