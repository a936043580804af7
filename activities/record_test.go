package activities

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/domain"
)

// withOwnStore gives f's activities a store of their own, so a test can take the
// database away from them while f.store still reads it.
func (f *fixture) withOwnStore() *Activities {
	f.t.Helper()
	acts := &Activities{Store: openStore(f.t, f.url), HTTP: f.acts.HTTP, Secrets: f.acts.Secrets}
	f.acts = acts
	return acts
}

// internalLeak reports whether a message a tenant may read says anything of Threada's
// insides: driver errors, addresses.
func internalLeak(msg string) bool {
	for _, s := range []string{"sql", "database is closed", "dial", "127.0.0.1:5432", "pgdriver", "connection refused"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// TestSendAttemptReturnsWhatItCouldNotRecord: the call succeeded, then PostgreSQL went away.
// SendAttempt does not fail (Temporal would send the call again): it returns the outcome,
// unrecorded, and RecordAttempt stores it once the database is back; recording it again,
// or recording an older attempt, changes nothing.
func TestSendAttemptReturnsWhatItCouldNotRecord(t *testing.T) {
	f := newFixture(t, "127.0.0.0/8")
	acts := f.withOwnStore()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		_ = acts.Store.Close() // the database is gone before the answer is recorded
		_, _ = w.Write([]byte(`{"received":true}`))
	}))
	defer srv.Close()
	a := f.newAction(domain.ActionRequest{Method: "POST", URL: srv.URL, BodyJSON: `{}`})
	out, err := f.send(a, 2)
	if err != nil {
		t.Fatalf("SendAttempt failed after the call went out: %v", err)
	}
	if out.Recorded || out.Error != "" || out.Response == nil || out.Response.Body != `{"received":true}` || calls.Load() != 1 {
		t.Fatalf("outcome %+v after %d calls; want the unrecorded success", out, calls.Load())
	}
	if got, _ := f.store.ActionByID(context.Background(), a.ID); got.Status != domain.ActionQueued {
		t.Fatalf("recorded %s with the database closed", got.Status)
	}

	// The workflow records it with a working store.
	f.acts = &Activities{Store: f.store}
	rec := out.Record(contract.AttemptInput{ActionID: a.ID, Attempt: 2, Request: a.Request}, time.Now())
	older := contract.AttemptRecord{ActionID: a.ID, Attempt: 1, Status: domain.ActionRetrying, LastError: "POST x: 503 Service Unavailable"}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(f.acts)
	var first *domain.Action
	for i, r := range []contract.AttemptRecord{rec, rec, older} {
		if _, err := env.ExecuteActivity(f.acts.RecordAttempt, r); err != nil {
			t.Fatalf("record %d: %v", i+1, err)
		}
		got, err := f.store.ActionByID(context.Background(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != domain.ActionSucceeded || got.Attempts != 2 || got.LastError != "" || got.Response == nil || got.Response.Body != `{"received":true}` {
			t.Errorf("after record %d: %s, %d attempts, %q, %+v", i+1, got.Status, got.Attempts, got.LastError, got.Response)
		}
		if first == nil {
			first = got
		} else if !got.UpdatedAt.Equal(first.UpdatedAt) {
			t.Errorf("record %d changed the action again", i+1)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("the receiver got %d calls", calls.Load())
	}
}

// TestSendAttemptNotSent: without the database nothing is sent, and the error says so
// without the driver's words, which stay in its cause.
func TestSendAttemptNotSent(t *testing.T) {
	f := newFixture(t, "127.0.0.0/8")
	acts := f.withOwnStore()
	var reached atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Store(true) }))
	defer srv.Close()
	a := f.newAction(domain.ActionRequest{Method: "GET", URL: srv.URL})
	_ = acts.Store.Close()
	_, err := f.send(a, 1)
	ae := appErr(t, err)
	if ae.Type() != contract.ErrTypeNotSent || ae.NonRetryable() || internalLeak(ae.Message()) {
		t.Errorf("error %q (type %s, non-retryable %v)", ae.Message(), ae.Type(), ae.NonRetryable())
	}
	if reached.Load() {
		t.Error("an attempt that could not be prepared was sent")
	}
}

func TestRecordAttemptRefusesANonOutcome(t *testing.T) {
	f := newFixture(t, "")
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(f.acts)
	_, err := env.ExecuteActivity(f.acts.RecordAttempt, contract.AttemptRecord{ActionID: "act_x", Attempt: 1, Status: domain.ActionRunning})
	if ae := appErr(t, err); !ae.NonRetryable() {
		t.Errorf("error %v", err)
	}
}

// TestCustomHTTPCallOfOlderRuns: the activity of runs started before the attempt loop
// still records its own outcomes and leaves retries to Temporal.
func TestCustomHTTPCallOfOlderRuns(t *testing.T) {
	f := newFixture(t, "127.0.0.0/8")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer srv.Close()
	a := f.newAction(domain.ActionRequest{Method: "GET", URL: srv.URL})
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(f.acts)
	_, err := env.ExecuteActivity(f.acts.CustomHTTPCall, contract.CallInput{ActionID: a.ID, TenantID: f.tenant, Request: a.Request})
	if ae := appErr(t, err); ae.NonRetryable() || ae.Type() != contract.ErrTypeHTTPStatus {
		t.Errorf("error %v", err)
	}
	got, err := f.store.ActionByID(context.Background(), a.ID)
	if err != nil || got.Status != domain.ActionRetrying || got.Attempts != 1 || !strings.HasSuffix(got.LastError, ": 502 Bad Gateway") {
		t.Errorf("recorded %+v %v", got, err)
	}
}
