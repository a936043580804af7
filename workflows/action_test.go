package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/threada/threada/activities"
	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/domain"
)

func input(maxAttempts, timeoutMS int) ActionInput {
	return ActionInput{
		ActionID: "act_x", TenantID: "ten_x", TicketID: "tkt_x",
		Request: domain.ActionRequest{Method: "POST", URL: "https://hooks.example.com/x", TimeoutMS: timeoutMS, MaxAttempts: maxAttempts},
	}
}

// dbDown is what the driver says while PostgreSQL is down: it must never reach a tenant.
const dbDown = "dial tcp 127.0.0.1:5432: connect: connection refused"

// harness runs the workflow with SendAttempt replaced by send and RecordAttempt by
// record (nil: it succeeds), and keeps every attempt the workflow asked for, when, and
// every record the workflow made.
type harness struct {
	env      *testsuite.TestWorkflowEnvironment
	attempts []contract.AttemptInput
	at       []time.Time
	records  []contract.AttemptRecord // the ones that went through
	tries    int                      // RecordAttempt calls, failed ones included
}

func newHarness(t *testing.T, send func(n int, in contract.AttemptInput) (*contract.AttemptOutcome, error), record func(try int) error) *harness {
	var s testsuite.WorkflowTestSuite
	h := &harness{env: s.NewTestWorkflowEnvironment()}
	acts := &activities.Activities{}
	Register(h.env, acts)
	h.env.OnActivity(acts.SendAttempt, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in contract.AttemptInput) (*contract.AttemptOutcome, error) {
			h.attempts = append(h.attempts, in)
			h.at = append(h.at, h.env.Now())
			return send(len(h.attempts), in)
		})
	h.env.OnActivity(acts.RecordAttempt, mock.Anything, mock.Anything).Return(
		func(_ context.Context, rec contract.AttemptRecord) error {
			h.tries++
			if record != nil {
				if err := record(h.tries); err != nil {
					return err
				}
			}
			h.records = append(h.records, rec)
			return nil
		})
	return h
}

func ok(recorded bool) *contract.AttemptOutcome {
	return &contract.AttemptOutcome{Response: &domain.ActionResponse{StatusCode: 200, Body: `{"ok":true}`, DurationMS: 12}, Recorded: recorded}
}

func status503(recorded bool) *contract.AttemptOutcome {
	return &contract.AttemptOutcome{Error: "POST https://hooks.example.com/x: 503 Service Unavailable", ErrType: contract.ErrTypeHTTPStatus,
		Retryable: true, Response: &domain.ActionResponse{StatusCode: 503}, Recorded: recorded}
}

func TestActionSucceedsWithOneActivity(t *testing.T) {
	h := newHarness(t, func(int, contract.AttemptInput) (*contract.AttemptOutcome, error) { return ok(true), nil }, nil)
	h.env.ExecuteWorkflow(CustomHTTPAction, input(5, 10_000))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res contract.CallResult
	if err := h.env.GetWorkflowResult(&res); err != nil || res.StatusCode != 200 || res.DurationMS != 12 {
		t.Errorf("result %+v %v", res, err)
	}
	if len(h.attempts) != 1 || h.attempts[0].Attempt != 1 || h.tries != 0 {
		t.Errorf("%d attempts, %d record activities; the happy path is one activity", len(h.attempts), h.tries)
	}
}

// TestOutcomeOutlivesADatabaseOutage: the call succeeded but SendAttempt could not record
// it; the workflow records it, retrying while PostgreSQL is down, and never calls again.
func TestOutcomeOutlivesADatabaseOutage(t *testing.T) {
	h := newHarness(t, func(int, contract.AttemptInput) (*contract.AttemptOutcome, error) { return ok(false), nil },
		func(try int) error {
			if try <= 6 {
				return errors.New(dbDown)
			}
			return nil
		})
	h.env.ExecuteWorkflow(CustomHTTPAction, input(5, 10_000))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("the action failed: %v", err)
	}
	if len(h.attempts) != 1 {
		t.Errorf("the receiver was called %d times", len(h.attempts))
	}
	if h.tries != 7 || len(h.records) != 1 {
		t.Fatalf("%d record tries, %d records", h.tries, len(h.records))
	}
	rec := h.records[0]
	if rec.Status != domain.ActionSucceeded || rec.Attempt != 1 || rec.Response == nil || rec.Response.Body != `{"ok":true}` || rec.LastError != "" {
		t.Errorf("record %+v", rec)
	}
}

// TestRetriesBackOffExponentially: 1 s, 2 s, 4 s between attempts, then success; each
// attempt carries its number, and a failed one the workflow had to record keeps the
// receiver's error and the time of the next attempt.
func TestRetriesBackOffExponentially(t *testing.T) {
	h := newHarness(t, func(n int, _ contract.AttemptInput) (*contract.AttemptOutcome, error) {
		if n < 4 {
			return status503(n != 2), nil
		}
		return ok(true), nil
	}, nil)
	h.env.ExecuteWorkflow(CustomHTTPAction, input(5, 10_000))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(h.attempts) != 4 {
		t.Fatalf("%d attempts", len(h.attempts))
	}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		if got := h.at[i+1].Sub(h.at[i]); got != want {
			t.Errorf("gap %d: %v, want %v", i+1, got, want)
		}
	}
	for i, in := range h.attempts {
		if in.Attempt != i+1 {
			t.Errorf("attempt %d sent as %d", i+1, in.Attempt)
		}
	}
	if len(h.records) != 1 {
		t.Fatalf("records %+v, want attempt 2's only", h.records)
	}
	rec := h.records[0]
	if rec.Attempt != 2 || rec.Status != domain.ActionRetrying || rec.LastError != status503(false).Error ||
		rec.NextAttemptAt == nil || !rec.NextAttemptAt.Equal(h.at[2]) {
		t.Errorf("record %+v (next %v), want attempt 2 retrying, next at %v", rec, rec.NextAttemptAt, h.at[2])
	}
}

// TestRetryAfterSetsTheNextAttempt: an outcome carrying the receiver's Retry-After delays
// the next attempt by exactly that.
func TestRetryAfterSetsTheNextAttempt(t *testing.T) {
	h := newHarness(t, func(n int, _ contract.AttemptInput) (*contract.AttemptOutcome, error) {
		if n == 1 {
			o := status503(true)
			o.RetryAfter = 45 * time.Second
			return o, nil
		}
		return ok(true), nil
	}, nil)
	h.env.ExecuteWorkflow(CustomHTTPAction, input(5, 10_000))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(h.at) != 2 || h.at[1].Sub(h.at[0]) != 45*time.Second {
		t.Errorf("attempts at %v; want the second 45s after the first", h.at)
	}
}

// TestAttemptNotSentIsTriedAgain: an attempt that could not be prepared (PostgreSQL down
// before the call) is tried again with the same number, and counts for nothing.
func TestAttemptNotSentIsTriedAgain(t *testing.T) {
	h := newHarness(t, func(n int, _ contract.AttemptInput) (*contract.AttemptOutcome, error) {
		if n <= 3 {
			return nil, temporal.NewApplicationErrorWithCause("not prepared", contract.ErrTypeNotSent, errors.New(dbDown))
		}
		return ok(true), nil
	}, nil)
	h.env.ExecuteWorkflow(CustomHTTPAction, input(1, 10_000))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(h.attempts) != 4 {
		t.Fatalf("%d tries", len(h.attempts))
	}
	for _, in := range h.attempts {
		if in.Attempt != 1 {
			t.Errorf("a try went out as attempt %d; nothing was sent before, it is still attempt 1", in.Attempt)
		}
	}
}

func TestFinalOutcomes(t *testing.T) {
	gone := &contract.AttemptOutcome{Error: "POST https://hooks.example.com/x: 404 Not Found", ErrType: "HTTPRejected"}
	for _, tc := range []struct {
		name         string
		maxAttempts  int
		out          *contract.AttemptOutcome
		err          error
		wantAttempts int
		wantRecord   string // the final status the workflow records; "" when it records nothing
		wantError    string
	}{
		{"404 recorded by the activity", 5, &contract.AttemptOutcome{Error: gone.Error, ErrType: gone.ErrType, Recorded: true}, nil, 1, "", ""},
		{"404 recorded by the workflow", 5, gone, nil, 1, domain.ActionFailed, gone.Error},
		{"max attempts reached", 3, status503(false), nil, 3, domain.ActionFailed, status503(false).Error},
		{"the worker died in every attempt", 2, nil, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, nil), 2, domain.ActionTimedOut, msgAttemptLost},
		{"the action was canceled meanwhile", 5, nil, temporal.NewNonRetryableApplicationError("the action is already canceled", contract.ErrTypeRecorded, nil), 1, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(int, contract.AttemptInput) (*contract.AttemptOutcome, error) { return tc.out, tc.err }, nil)
			h.env.ExecuteWorkflow(CustomHTTPAction, input(tc.maxAttempts, 1000))
			if h.env.GetWorkflowError() == nil {
				t.Fatal("the workflow succeeded")
			}
			if len(h.attempts) != tc.wantAttempts {
				t.Errorf("%d attempts, want %d", len(h.attempts), tc.wantAttempts)
			}
			var final []contract.AttemptRecord
			for _, r := range h.records {
				if domain.ActionTerminal(r.Status) {
					final = append(final, r)
				}
			}
			switch {
			case tc.wantRecord == "" && len(final) != 0:
				t.Errorf("recorded %+v", final)
			case tc.wantRecord != "" && (len(final) != 1 || final[0].Status != tc.wantRecord || final[0].LastError != tc.wantError || final[0].Attempt != tc.wantAttempts):
				t.Errorf("final records %+v, want one %s of attempt %d with %q", final, tc.wantRecord, tc.wantAttempts, tc.wantError)
			}
		})
	}
}

// TestCancelRecordsCanceled: canceling the run while it waits to retry stops the attempts,
// records canceled and ends the run as canceled.
func TestCancelRecordsCanceled(t *testing.T) {
	h := newHarness(t, func(int, contract.AttemptInput) (*contract.AttemptOutcome, error) { return status503(true), nil }, nil)
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, 90*time.Second)
	h.env.ExecuteWorkflow(CustomHTTPAction, input(25, 1000))
	err := h.env.GetWorkflowError()
	var canceled *temporal.CanceledError
	if !errors.As(err, &canceled) {
		t.Fatalf("workflow error %v, want canceled", err)
	}
	if len(h.records) != 1 || h.records[0].Status != domain.ActionCanceled || h.records[0].Attempt != 0 {
		t.Errorf("records %+v", h.records)
	}
	// 1+2+4+8+16+32 s of backoff fit in 90 s: 7 attempts, then no more.
	if len(h.attempts) != 7 {
		t.Errorf("%d attempts before the cancel", len(h.attempts))
	}
}

// TestCancelDuringTheRecordKeepsTheOutcome: a cancel that arrives while a success is being
// recorded does not drop it: the run still ends with the call's result.
func TestCancelDuringTheRecordKeepsTheOutcome(t *testing.T) {
	h := newHarness(t, func(int, contract.AttemptInput) (*contract.AttemptOutcome, error) { return ok(false), nil },
		func(try int) error {
			if try <= 3 {
				return errors.New(dbDown)
			}
			return nil
		})
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, 2*time.Second)
	h.env.ExecuteWorkflow(CustomHTTPAction, input(5, 1000))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow error %v, want the success", err)
	}
	if len(h.records) != 1 || h.records[0].Status != domain.ActionSucceeded {
		t.Errorf("records %+v", h.records)
	}
}

// TestLastErrorIsTheReceivers: whatever fails inside Threada, what the workflow records as
// last_error is the receiver's problem, or a sentence about the attempt, never a driver
// error or an internal address.
func TestLastErrorIsTheReceivers(t *testing.T) {
	h := newHarness(t, func(n int, _ contract.AttemptInput) (*contract.AttemptOutcome, error) {
		switch n {
		case 1:
			return nil, temporal.NewApplicationErrorWithCause("not prepared", contract.ErrTypeNotSent, errors.New(dbDown))
		case 2:
			return status503(false), nil
		case 3:
			return nil, errors.New(dbDown) // an unexpected failure of the activity itself
		}
		return nil, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, errors.New(dbDown))
	}, func(try int) error {
		if try%2 == 1 {
			return errors.New(dbDown)
		}
		return nil
	})
	h.env.ExecuteWorkflow(CustomHTTPAction, input(3, 1000))
	if h.env.GetWorkflowError() == nil {
		t.Fatal("the workflow succeeded")
	}
	want := []string{status503(false).Error, msgAttemptFail, msgAttemptLost}
	if len(h.records) != len(want) {
		t.Fatalf("records %+v", h.records)
	}
	for i, rec := range h.records {
		if rec.LastError != want[i] || strings.Contains(rec.LastError, "127.0.0.1") || strings.Contains(rec.LastError, "dial") {
			t.Errorf("record %d: last_error %q, want %q", i+1, rec.LastError, want[i])
		}
	}
}

// TestAttemptTimeoutIsTheActionsPlusGrace: the attempt's StartToClose follows timeout_ms,
// and Temporal never retries an attempt behind the workflow's back.
func TestAttemptTimeoutIsTheActionsPlusGrace(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	acts := &activities.Activities{}
	Register(env, acts)
	var got *activity.Info
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.ActivityType.Name == contract.AttemptActivityName {
			got = info
		}
	})
	env.OnActivity(acts.SendAttempt, mock.Anything, mock.Anything).Return(ok(true), nil)
	env.ExecuteWorkflow(CustomHTTPAction, input(1, 2500))
	if got == nil {
		t.Fatal("no attempt ran")
	}
	if want := 2500*time.Millisecond + contract.AttemptGrace; got.StartToCloseTimeout != want {
		t.Errorf("StartToClose %v, want %v", got.StartToCloseTimeout, want)
	}
}

// TestRunsStartedBeforeTheAttemptLoop: a run without the attempt-loop version marker keeps
// the older shape: one CustomHTTPCall retried by Temporal, which records its outcomes.
func TestRunsStartedBeforeTheAttemptLoop(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	acts := &activities.Activities{}
	Register(env, acts)
	env.OnGetVersion(attemptLoopChange, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	calls := 0
	env.OnActivity(acts.CustomHTTPCall, mock.Anything, mock.Anything).Return(
		func(context.Context, contract.CallInput) (*contract.CallResult, error) {
			if calls++; calls < 3 {
				return nil, temporal.NewApplicationError("POST x: 503 Service Unavailable", contract.ErrTypeHTTPStatus)
			}
			return &contract.CallResult{StatusCode: 200}, nil
		})
	env.ExecuteWorkflow(CustomHTTPAction, input(5, 1000))
	if err := env.GetWorkflowError(); err != nil || calls != 3 {
		t.Errorf("%v after %d calls", err, calls)
	}
}

// TestHeldBackAttemptWaitsInLine: an attempt held back by its destination's limit waits in
// line until a wake (contract.SignalSlotFree) comes, not the 30 s it was told at most, and
// then asks again as the same attempt; one not in line (an open circuit) waits its time;
// with no wake at all, the one in line asks again after its time.
func TestHeldBackAttemptWaitsInLine(t *testing.T) {
	heldBack := func(wait time.Duration, inLine bool) error {
		return temporal.NewNonRetryableApplicationError("held back", contract.ErrTypeHeldBack, nil, wait.Milliseconds(), inLine)
	}
	for _, tc := range []struct {
		name     string
		inLine   bool
		wakeAt   time.Duration // 0: no wake
		askAgain time.Duration
	}{
		{"woken in line", true, 2 * time.Second, 2 * time.Second},
		{"in line, never woken", true, 0, 30 * time.Second},
		{"an open circuit's wait", false, 2 * time.Second, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(n int, _ contract.AttemptInput) (*contract.AttemptOutcome, error) {
				if n == 1 {
					return nil, heldBack(30*time.Second, tc.inLine)
				}
				return ok(true), nil
			}, nil)
			if tc.wakeAt > 0 {
				h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(contract.SignalSlotFree, nil) }, tc.wakeAt)
			}
			h.env.ExecuteWorkflow(CustomHTTPAction, input(1, 10_000))
			if err := h.env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if len(h.attempts) != 2 || h.attempts[1].Attempt != 1 {
				t.Fatalf("%d tries: %+v", len(h.attempts), h.attempts)
			}
			if got := h.at[1].Sub(h.at[0]); got < tc.askAgain || got > tc.askAgain+time.Second {
				t.Errorf("asked again after %v, want %v", got, tc.askAgain)
			}
		})
	}
}
