package workflows

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/threada/threada/activities"
	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/domain"
)

// TestRunsStartedBeforeTheAttemptLoopReplay replays histories recorded by the workflow as
// it was before the attempt loop (testdata/legacy-*.json: success, retries, attempts
// exhausted, an outcome the activity recorded, a timeout, a cancel, and a run still
// waiting to retry), so runs open at a deploy finish under the new code.
func TestRunsStartedBeforeTheAttemptLoopReplay(t *testing.T) {
	files, err := filepath.Glob("testdata/legacy-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no histories: %v", err)
	}
	replay := func(fn any, file string) error {
		r := worker.NewWorkflowReplayer()
		r.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: contract.ActionWorkflowName})
		return r.ReplayWorkflowHistoryFromJSONFile(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), file)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if err := replay(CustomHTTPAction, file); err != nil {
				t.Errorf("replay: %v", err)
			}
		})
	}
	// The check has teeth: without the version branch the old histories do not replay.
	if err := replay(attemptLoop, "testdata/legacy-success.json"); err == nil {
		t.Error("the attempt loop replayed a history of the older shape")
	}
}

// replayHarness runs ActionReplayBatch with ReplayStep answered by step (its 1-based call
// number) and keeps when each step ran and what FinishReplay recorded.
type replayHarness struct {
	env      *testsuite.TestWorkflowEnvironment
	at       []time.Time
	finished []string
}

func newReplayHarness(step func(n int) contract.ReplayStepResult) *replayHarness {
	var s testsuite.WorkflowTestSuite
	h := &replayHarness{env: s.NewTestWorkflowEnvironment()}
	acts := &activities.Activities{}
	Register(h.env, acts)
	h.env.OnActivity(acts.ReplayStep, mock.Anything, mock.Anything).Return(
		func(context.Context, contract.ReplayStepInput) (*contract.ReplayStepResult, error) {
			h.at = append(h.at, h.env.Now())
			r := step(len(h.at))
			return &r, nil
		})
	h.env.OnActivity(acts.FinishReplay, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_ context.Context, _ string, status string) error {
			h.finished = append(h.finished, status)
			return nil
		})
	return h
}

// TestQueuedReplayWaits: while its step says queued a batch asks again every
// replayQueuedPoll, then steps each second once it runs, until done.
func TestQueuedReplayWaits(t *testing.T) {
	h := newReplayHarness(func(n int) contract.ReplayStepResult {
		return contract.ReplayStepResult{Queued: n <= 3, Replayed: min(max(n-3, 0), 1), Done: n == 5}
	})
	h.env.ExecuteWorkflow(ActionReplayBatch, ReplayBatchInput{BatchID: "arp_x", RatePerSecond: 1})
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{replayQueuedPoll, replayQueuedPoll, replayQueuedPoll, time.Second}
	if len(h.at) != len(want)+1 {
		t.Fatalf("%d steps, want %d", len(h.at), len(want)+1)
	}
	for i, d := range want {
		if gap := h.at[i+1].Sub(h.at[i]); gap != d {
			t.Errorf("gap after step %d: %v, want %v", i+1, gap, d)
		}
	}
}

// TestQueuedReplayHistoryIsBounded: a batch that waits a long time continues as a new run
// after replayStepsPerRun steps, waits included, so its history stays bounded.
func TestQueuedReplayHistoryIsBounded(t *testing.T) {
	h := newReplayHarness(func(int) contract.ReplayStepResult { return contract.ReplayStepResult{Queued: true} })
	h.env.ExecuteWorkflow(ActionReplayBatch, ReplayBatchInput{BatchID: "arp_x", RatePerSecond: 1})
	var can *workflow.ContinueAsNewError
	if err := h.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow error %v, want continue-as-new", err)
	}
	if len(h.at) != replayStepsPerRun {
		t.Errorf("%d steps in one run, want %d", len(h.at), replayStepsPerRun)
	}
}

// TestCancelOfAQueuedReplay: canceling a batch while it waits its turn records it canceled.
func TestCancelOfAQueuedReplay(t *testing.T) {
	h := newReplayHarness(func(int) contract.ReplayStepResult { return contract.ReplayStepResult{Queued: true} })
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, 12*time.Second)
	h.env.ExecuteWorkflow(ActionReplayBatch, ReplayBatchInput{BatchID: "arp_x", RatePerSecond: 1})
	var canceled *temporal.CanceledError
	if err := h.env.GetWorkflowError(); !errors.As(err, &canceled) {
		t.Fatalf("workflow error %v, want canceled", err)
	}
	if len(h.finished) != 1 || h.finished[0] != domain.ReplayBatchCanceled || len(h.at) != 3 {
		t.Errorf("finished %v after %d steps", h.finished, len(h.at))
	}
}
