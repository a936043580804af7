package main

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/threada/threada/activities"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/httpguard"
	"github.com/threada/threada/internal/temporaltest"
	"github.com/threada/threada/workflows"
)

// TestCircuitStopsBurningAttemptsAndRecovers: a receiver that fails opens its circuit after
// 10 failed attempts; an action sent meanwhile waits without using its attempts, goes out
// as the probe once the receiver is back, and succeeds exactly once; the health listing
// shows the destination; another receiver of the same tenant is not held back meanwhile.
func TestCircuitStopsBurningAttemptsAndRecovers(t *testing.T) {
	interval := domain.CircuitProbeInterval
	domain.CircuitProbeInterval = 2 * time.Second
	t.Cleanup(func() { domain.CircuitProbeInterval = interval })
	e, _ := newActionEnv(t)
	var down atomic.Bool
	down.Store(true)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	healthy := newReceiver(t, nil)
	f := e.actionFixture(rc.URL, "127.0.0.1")
	one := referenceAction()
	one["payload"].(map[string]any)["max_attempts"] = 1
	for i := range domain.CircuitFailures {
		if a := decodeAction(t, e.postAction(f, one, map[string]string{"Prefer": "wait=20"})); a.Status != "failed" {
			t.Fatalf("failing action %d: %s", i, a.Status)
		}
	}
	var page listJSON[map[string]any]
	e.do(req{method: "GET", path: "/api/v1/admin/destinations", key: f.key}).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0]["state"] != "open" || page.Items[0]["attempts_5m"] != float64(domain.CircuitFailures) {
		t.Fatalf("destinations: %+v", page.Items)
	}
	calls := len(rc.requests())

	body := referenceAction()
	body["payload"].(map[string]any)["max_attempts"] = 2
	held := decodeAction(t, e.postAction(f, body, nil))
	other := referenceAction()
	other["payload"].(map[string]any)["url"] = healthy.URL + "/hooks/other"
	if a := decodeAction(t, e.postAction(f, other, map[string]string{"Prefer": "wait=10"})); a.Status != "succeeded" {
		t.Errorf("another destination of the tenant: %s", a.Status)
	}
	time.Sleep(500 * time.Millisecond)
	if a := e.getAction(f, held.ActionID, nil); a.Attempts != 0 {
		t.Fatalf("an attempt went through the open circuit: %+v", a)
	}
	down.Store(false)
	var done actionJSON
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if done = e.getAction(f, held.ActionID, nil); done.Status == "succeeded" {
			break
		}
	}
	if done.Status != "succeeded" || done.Attempts != 1 {
		t.Fatalf("after recovery: %s after %d attempts", done.Status, done.Attempts)
	}
	if n := len(rc.requests()) - calls; n != 1 {
		t.Errorf("the receiver got %d calls after the circuit opened, want the one probe", n)
	}
	e.do(req{method: "GET", path: "/api/v1/admin/destinations", key: f.key}).decode(t, &page)
	states := map[any]any{}
	for _, d := range page.Items {
		states[d["destination"]] = d["state"]
	}
	if len(page.Items) != 2 || states[domain.Destination(rc.URL)] != "closed" || states[domain.Destination(healthy.URL)] != "closed" {
		t.Errorf("destinations after recovery: %+v", page.Items)
	}
}

// TestSlowReceiverDoesNotHoldBackOthers: a burst of actions for a slow receiver takes at
// most ACTIONS_HOST_CONCURRENCY of the worker's attempt slots, so an action for another
// receiver, of the same tenant or another, goes out at once rather than behind the burst.
func TestSlowReceiverDoesNotHoldBackOthers(t *testing.T) {
	ts := temporaltest.Shared(t)
	e := newEnvWithTemporal(t, ts.Addr)
	tc := e.temporal()
	guard, err := httpguard.New("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	// A worker with 6 attempt slots, 4 of which one destination may take.
	w := worker.New(tc, e.cfg.TaskQueue, worker.Options{MaxConcurrentActivityExecutionSize: 6})
	workflows.Register(w, &activities.Activities{Store: e.store, HTTP: guard.Client(), Secrets: e.box, HostConcurrency: 4})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	release := make(chan struct{})
	slow := newReceiver(t, func(_ int, w http.ResponseWriter) {
		<-release
		w.WriteHeader(http.StatusOK)
	})
	defer close(release)
	fast := newReceiver(t, nil)
	f := e.actionFixture(slow.URL, "127.0.0.1")
	other := e.actionFixture(fast.URL)
	for range 12 {
		if resp := e.postAction(f, referenceAction(), nil); resp.Status != http.StatusCreated {
			t.Fatalf("%d %s", resp.Status, resp.Body)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); len(slow.requests()) < 4 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(slow.requests()); n != 4 {
		t.Fatalf("%d calls in flight to the slow receiver, want its limit of 4", n)
	}
	sameTenant := referenceAction()
	sameTenant["payload"].(map[string]any)["url"] = fast.URL + "/hooks/other"
	for _, tc := range []struct {
		name string
		f    actionFixture
		body map[string]any
	}{{"same tenant", f, sameTenant}, {"another tenant", other, referenceAction()}} {
		start := time.Now()
		a := decodeAction(t, e.postAction(tc.f, tc.body, map[string]string{"Prefer": "wait=10"}))
		if a.Status != "succeeded" || time.Since(start) > 3*time.Second {
			t.Errorf("%s: %s after %s, behind the slow receiver's burst", tc.name, a.Status, time.Since(start))
		}
	}
}
