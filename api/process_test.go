package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/internal/temporaltest"
)

// workerProcess is the worker binary running.
type workerProcess struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

// startWorker runs the worker binary against env's database and task queue, with extra
// variables (NAME=value) added to its environment.
func startWorker(t *testing.T, e *testEnv, dsn, temporalAddr string, extra ...string) *workerProcess {
	t.Helper()
	w := &workerProcess{logs: &syncBuffer{}, done: make(chan error, 1)}
	w.cmd = exec.Command(buildBinary(t, "github.com/threada/threada/worker"))
	w.cmd.Env = append(append(os.Environ(),
		"DATABASE_URL="+dsn, "TEMPORAL_ADDRESS="+temporalAddr, "TEMPORAL_TASK_QUEUE="+e.cfg.TaskQueue,
		"SECRETS_KEY="+e.cfg.SecretsKey, "ACTIONS_EGRESS_ALLOW_CIDRS=127.0.0.0/8", "SHUTDOWN_TIMEOUT=5s"), extra...)
	w.cmd.Stderr = w.logs
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.done <- w.cmd.Wait() }()
	t.Cleanup(func() { _ = w.cmd.Process.Kill() })
	return w
}

// envOnURL is a test API on a fresh database whose URL processes can share.
func envOnURL(t *testing.T, temporalAddr string) (*testEnv, string) {
	t.Helper()
	dsn := dbtest.NewURL(t)
	st, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return newEnvOn(t, temporalAddr, st), dsn
}

func waitStatus(t *testing.T, e *testEnv, f actionFixture, id string, want string, within time.Duration) actionJSON {
	t.Helper()
	deadline := time.Now().Add(within)
	var a actionJSON
	for time.Now().Before(deadline) {
		if a = e.getAction(f, id, nil); a.Status == want {
			return a
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("action %s is %s after %v, want %s (last_error %s)", id, a.Status, within, want, deref(a.LastError))
	return a
}

// TestActionsSurviveTemporalOutage is the documented behaviour: with Temporal unreachable
// the API still accepts actions (201, queued) at once, and the worker's relay starts them
// when Temporal is reachable; nothing accepted is lost, and a canceled one never runs.
func TestActionsSurviveTemporalOutage(t *testing.T) {
	ts := temporaltest.Shared(t)
	e, dsn := envOnURL(t, "127.0.0.1:1") // this API never reaches Temporal
	rc := newReceiver(t, nil)
	f := e.actionFixture(rc.URL)

	start := time.Now()
	resp := e.postAction(f, referenceAction(), nil)
	if resp.Status != http.StatusCreated {
		t.Fatalf("create during the outage: %d %s", resp.Status, resp.Body)
	}
	kept := decodeAction(t, resp)
	canceled := decodeAction(t, e.postAction(f, referenceAction(), nil))
	if kept.Status != "queued" || time.Since(start) > 5*time.Second {
		t.Errorf("during the outage: %s after %v", kept.Status, time.Since(start))
	}
	if g := e.getAction(f, kept.ActionID, map[string]string{"Prefer": "wait=1"}); g.Status != "queued" {
		t.Errorf("GET during the outage: %+v", g)
	}
	resp = e.do(req{method: "POST", path: "/api/v1/public/actions/" + canceled.ActionID + "/cancel", key: f.key})
	if c := decodeAction(t, resp); resp.Status != 200 || c.Status != "canceled" {
		t.Fatalf("cancel of an unstarted action: %d %s", resp.Status, resp.Body)
	}

	startWorker(t, e, dsn, ts.Addr) // the relay reaches Temporal
	done := waitStatus(t, e, f, kept.ActionID, "succeeded", 30*time.Second)
	if done.Attempts != 1 {
		t.Errorf("attempts %d", done.Attempts)
	}
	time.Sleep(2 * time.Second) // give the relay a chance to (wrongly) start the canceled one
	got := rc.requests()
	if len(got) != 1 || got[0].Header.Get("Idempotency-Key") != kept.ActionID {
		t.Errorf("receiver got %d requests (%v), want exactly the kept action's", len(got), got)
	}
	if c := e.getAction(f, canceled.ActionID, nil); c.Status != "canceled" {
		t.Errorf("canceled action is now %s", c.Status)
	}
}

// TestWorkerKilledDuringRetries: SIGKILL the worker while an action waits to retry; a new
// worker finishes it and the receiver sees exactly one success.
func TestWorkerKilledDuringRetries(t *testing.T) {
	ts := temporaltest.Shared(t)
	e, dsn := envOnURL(t, ts.Addr)
	var successes atomic.Int32
	rc := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		successes.Add(1)
		w.WriteHeader(http.StatusOK)
	})
	f := e.actionFixture(rc.URL)
	first := startWorker(t, e, dsn, ts.Addr)

	body := referenceAction()
	body["payload"].(map[string]any)["timeout_ms"] = 1000
	a := decodeAction(t, e.postAction(f, body, nil))
	deadline := time.Now().Add(20 * time.Second)
	for len(rc.requests()) < 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(rc.requests()) < 1 {
		t.Fatalf("the first attempt never came:\n%s", first.logs)
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done

	startWorker(t, e, dsn, ts.Addr)
	done := waitStatus(t, e, f, a.ActionID, "succeeded", 60*time.Second)
	if successes.Load() != 1 || done.Attempts < 3 {
		t.Errorf("receiver answered %d successes; action attempts %d", successes.Load(), done.Attempts)
	}
}

// TestWorkerStopsGracefully: SIGTERM lets an attempt in flight finish and record, and the
// worker exits 0.
func TestWorkerStopsGracefully(t *testing.T) {
	ts := temporaltest.Shared(t)
	e, dsn := envOnURL(t, ts.Addr)
	arrived := make(chan struct{}, 1)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter) {
		arrived <- struct{}{}
		time.Sleep(1500 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
	})
	f := e.actionFixture(rc.URL)
	w := startWorker(t, e, dsn, ts.Addr)
	a := decodeAction(t, e.postAction(f, referenceAction(), nil))
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatalf("no attempt arrived:\n%s", w.logs)
	}
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-w.done:
		if err != nil {
			t.Fatalf("worker exit: %v\n%s", err, w.logs)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("worker did not stop")
	}
	if g := e.getAction(f, a.ActionID, nil); g.Status != "succeeded" || len(rc.requests()) != 1 {
		t.Errorf("after a graceful stop: %s with %d requests", g.Status, len(rc.requests()))
	}
}

// TestExpectedRetriesLogAtWarn: the worker's log of an action's normal course has no
// ERROR: attempts the receiver answers 503 (retried), an attempt held back because its
// destination has its limit of attempts in flight, and a permanent failure (404) are
// WARN at most, and the held-back attempt is said at WARN.
func TestExpectedRetriesLogAtWarn(t *testing.T) {
	ts := temporaltest.Shared(t)
	e, dsn := envOnURL(t, ts.Addr)
	rc := newReceiver(t, func(n int, w http.ResponseWriter) {
		switch {
		case n <= 2:
			time.Sleep(2 * time.Second) // keeps the destination's one slot taken
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	f := e.actionFixture(rc.URL)
	w := startWorker(t, e, dsn, ts.Addr, "ACTIONS_HOST_CONCURRENCY=1", "LOG_LEVEL=debug")
	first := decodeAction(t, e.postAction(f, referenceAction(), nil))
	second := decodeAction(t, e.postAction(f, referenceAction(), nil))
	waitStatus(t, e, f, first.ActionID, "succeeded", 45*time.Second)
	waitStatus(t, e, f, second.ActionID, "succeeded", 45*time.Second)
	gone := newReceiver(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusNotFound) })
	g := e.actionFixture(gone.URL)
	waitStatus(t, e, g, decodeAction(t, e.postAction(g, referenceAction(), nil)).ActionID, "failed", 30*time.Second)

	var heldBack bool
	for _, line := range strings.Split(w.logs.String(), "\n") {
		if line == "" {
			continue
		}
		var entry struct{ Level, Msg, Error string }
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			continue
		}
		if entry.Level == "ERROR" {
			t.Errorf("logged at ERROR: %s", line)
		}
		if entry.Level == "WARN" && strings.Contains(line, "DestinationHeldBack") {
			heldBack = true
		}
	}
	if !heldBack {
		t.Errorf("no held-back attempt in the worker's log:\n%s", w.logs)
	}
}
