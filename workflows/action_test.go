package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/threada/threada/activities"
	"github.com/threada/threada/internal/domain"
)

func input(maxAttempts, timeoutMS int) ActionInput {
	return ActionInput{
		ActionID: "act_x", TenantID: "ten_x", TicketID: "tkt_x",
		Request: domain.ActionRequest{Method: "POST", URL: "https://hooks.example.com/x", TimeoutMS: timeoutMS, MaxAttempts: maxAttempts},
	}
}

// harness runs the workflow with the call activity replaced by fn, and records every
// RecordActionOutcome it asks for and when each attempt ran.
type harness struct {
	env      *testsuite.TestWorkflowEnvironment
	attempts []time.Time
	outcomes []activities.OutcomeInput
}

func newHarness(t *testing.T, fn func(attempt int) (*activities.CallResult, error)) *harness {
	var s testsuite.WorkflowTestSuite
	h := &harness{env: s.NewTestWorkflowEnvironment()}
	acts := &activities.Activities{}
	Register(h.env, acts)
	h.env.OnActivity(acts.CustomHTTPCall, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, _ activities.CallInput) (*activities.CallResult, error) {
			h.attempts = append(h.attempts, h.env.Now())
			return fn(len(h.attempts))
		})
	h.env.OnActivity(acts.RecordActionOutcome, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.OutcomeInput) error {
			h.outcomes = append(h.outcomes, in)
			return nil
		})
	return h
}

func retryable(msg string) error {
	return temporal.NewApplicationError(msg, activities.ErrTypeHTTPStatus)
}

func TestActionSucceedsWithOneActivity(t *testing.T) {
	h := newHarness(t, func(int) (*activities.CallResult, error) {
		return &activities.CallResult{StatusCode: 200, DurationMS: 12}, nil
	})
	h.env.ExecuteWorkflow(CustomHTTPAction, input(5, 10_000))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res activities.CallResult
	if err := h.env.GetWorkflowResult(&res); err != nil || res.StatusCode != 200 {
		t.Errorf("result %+v %v", res, err)
	}
	if len(h.attempts) != 1 || len(h.outcomes) != 0 {
		t.Errorf("%d attempts, %d extra outcome activities; the happy path is one activity", len(h.attempts), len(h.outcomes))
	}
}

// TestRetriesBackOffExponentially: 1 s, 2 s, 4 s between attempts, then success.
func TestRetriesBackOffExponentially(t *testing.T) {
	h := newHarness(t, func(n int) (*activities.CallResult, error) {
		if n < 4 {
			return nil, retryable("POST https://hooks.example.com/x: 503 Service Unavailable")
		}
		return &activities.CallResult{StatusCode: 200}, nil
	})
	h.env.ExecuteWorkflow(CustomHTTPAction, input(5, 10_000))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(h.attempts) != 4 {
		t.Fatalf("%d attempts", len(h.attempts))
	}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		if got := h.attempts[i+1].Sub(h.attempts[i]); got != want {
			t.Errorf("gap %d: %v, want %v", i+1, got, want)
		}
	}
}

// TestRetryAfterSetsTheNextAttempt: an error carrying the receiver's Retry-After delays the
// next attempt by exactly that.
func TestRetryAfterSetsTheNextAttempt(t *testing.T) {
	h := newHarness(t, func(n int) (*activities.CallResult, error) {
		if n == 1 {
			return nil, temporal.NewApplicationErrorWithOptions("POST https://hooks.example.com/x: 429 Too Many Requests",
				activities.ErrTypeHTTPStatus, temporal.ApplicationErrorOptions{NextRetryDelay: 45 * time.Second})
		}
		return &activities.CallResult{StatusCode: 200}, nil
	})
	h.env.ExecuteWorkflow(CustomHTTPAction, input(5, 10_000))
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(h.attempts) != 2 || h.attempts[1].Sub(h.attempts[0]) != 45*time.Second {
		t.Errorf("attempts at %v; want the second 45s after the first", h.attempts)
	}
}

func TestFinalOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name         string
		maxAttempts  int
		err          error
		wantAttempts int
		wantOutcome  string // "" when the activity recorded it itself
	}{
		{"recorded by the activity", 5, temporal.NewNonRetryableApplicationError("POST x: 404 Not Found", activities.ErrTypeRecorded, nil), 1, ""},
		{"max attempts reached without a record", 3, retryable("POST x: 500 Internal Server Error"), 3, domain.ActionFailed},
		{"attempts timed out", 2, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, nil), 2, domain.ActionTimedOut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(int) (*activities.CallResult, error) { return nil, tc.err })
			h.env.ExecuteWorkflow(CustomHTTPAction, input(tc.maxAttempts, 1000))
			werr := h.env.GetWorkflowError()
			if werr == nil {
				t.Fatal("the workflow succeeded")
			}
			if len(h.attempts) != tc.wantAttempts {
				t.Errorf("%d attempts, want %d", len(h.attempts), tc.wantAttempts)
			}
			switch {
			case tc.wantOutcome == "" && len(h.outcomes) != 0:
				t.Errorf("recorded again: %+v", h.outcomes)
			case tc.wantOutcome != "" && (len(h.outcomes) != 1 || h.outcomes[0].Status != tc.wantOutcome || h.outcomes[0].LastError == ""):
				t.Errorf("outcomes %+v, want one %s with a message", h.outcomes, tc.wantOutcome)
			}
		})
	}
}

// TestCancelRecordsCanceled: canceling the run while it waits to retry stops the attempts,
// records canceled and ends the run as canceled.
func TestCancelRecordsCanceled(t *testing.T) {
	h := newHarness(t, func(int) (*activities.CallResult, error) { return nil, retryable("POST x: 503 Service Unavailable") })
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, 90*time.Second)
	h.env.ExecuteWorkflow(CustomHTTPAction, input(25, 1000))
	err := h.env.GetWorkflowError()
	var canceled *temporal.CanceledError
	if !errors.As(err, &canceled) {
		t.Fatalf("workflow error %v, want canceled", err)
	}
	if len(h.outcomes) != 1 || h.outcomes[0].Status != domain.ActionCanceled {
		t.Errorf("outcomes %+v", h.outcomes)
	}
	// 1+2+4+8+16+32 s of backoff fit in 90 s: 7 attempts, then no more.
	if len(h.attempts) != 7 {
		t.Errorf("%d attempts before the cancel", len(h.attempts))
	}
}

// TestAttemptTimeoutIsTheActionsPlusGrace: the activity's StartToClose follows timeout_ms.
func TestAttemptTimeoutIsTheActionsPlusGrace(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	acts := &activities.Activities{}
	Register(env, acts)
	var got time.Duration
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		got = info.StartToCloseTimeout
	})
	env.OnActivity(acts.CustomHTTPCall, mock.Anything, mock.Anything).Return(&activities.CallResult{StatusCode: 204}, nil)
	env.ExecuteWorkflow(CustomHTTPAction, input(1, 2500))
	if want := 2500*time.Millisecond + attemptGrace; got != want {
		t.Errorf("StartToClose %v, want %v", got, want)
	}
}
