package workflows

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/threada/threada/internal/actions"
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
		r.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: actions.WorkflowName})
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
