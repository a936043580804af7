package main

import (
	"net/http"
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
