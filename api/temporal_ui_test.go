package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
)

// TestRunsAreFindableInTheTemporalUI: an action's run carries a one-line summary and the
// search attributes ops filter on, ActionStatus set to the outcome when it ends.
func TestRunsAreFindableInTheTemporalUI(t *testing.T) {
	e, tc := newActionEnv(t)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusBadRequest) })
	f := e.actionFixture(rc.URL)
	a := decodeAction(t, e.postAction(f, referenceAction(), map[string]string{"Prefer": "wait=20"}))
	if a.Status != "failed" {
		t.Fatalf("status %s", a.Status)
	}
	ctx := context.Background()
	desc, err := tc.DescribeWorkflowExecution(ctx, a.ActionID, "")
	if err != nil {
		t.Fatal(err)
	}
	// The summary is a payload, so it is sealed: the UI reads it through the codec
	// endpoint, as this reads it with the keys.
	var summary string
	if p := desc.GetExecutionConfig().GetUserMetadata().GetSummary(); p != nil {
		if err := e.keys.DataConverter().FromPayload(p, &summary); err != nil {
			t.Fatalf("the summary does not open: %v", err)
		}
		if bytes.Contains(p.GetData(), []byte("/hooks/zapier")) {
			t.Errorf("the summary is in the clear in Temporal: %q", p.GetData())
		}
	}
	if !strings.Contains(summary, "POST 127.0.0.1:") || !strings.Contains(summary, "/hooks/zapier for "+f.ticket) {
		t.Errorf("summary %q", summary)
	}
	query := `Destination = "127.0.0.1" AND ActionStatus = "failed" AND TenantId = "` + f.tenant + `"`
	var found []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && len(found) == 0; time.Sleep(200 * time.Millisecond) {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range resp.GetExecutions() {
			found = append(found, ex.GetExecution().GetWorkflowId())
		}
	}
	if len(found) != 1 || found[0] != a.ActionID {
		t.Errorf("%s found %v, want %s", query, found, a.ActionID)
	}
}
