package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/internal/temporaltest"
)

// attemptLogger is bareCall with its attempt recorded the way Threada's SendAttempt
// records one: StartAttempt before the call (the attempt log's in-flight row, with the
// destination's slot) and RecordAttempt after it (the outcome in the log and on the
// action, with the destination's circuit), on a real action row.
type attemptLogger struct{ st *store.Store }

func (l *attemptLogger) LoggedCall(ctx context.Context, url, id, actionID string) error {
	dest := domain.Destination(url)
	// No slot limit here: the figure is the log's cost, not the slots' back-pressure.
	if _, err := l.st.StartAttempt(ctx, actionID, 1, dest, 1<<20); err != nil {
		return err
	}
	callErr := bareCall(ctx, url, id)
	res := store.AttemptResult{Attempt: 1, Status: domain.ActionSucceeded, Outcome: domain.AttemptSucceeded, Destination: dest,
		Response: &domain.ActionResponse{StatusCode: http.StatusOK, Headers: map[string]string{}, Body: ""}}
	if callErr != nil {
		res.Status, res.Outcome, res.LastError, res.Response, res.DestinationFailed = domain.ActionRetrying, domain.AttemptFailed, callErr.Error(), nil, true
	}
	_, err := l.st.RecordAttempt(ctx, actionID, res)
	return errors.Join(callErr, err)
}

func loggedWorkflow(ctx workflow.Context, url, id, actionID string) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
	})
	var l *attemptLogger
	return workflow.ExecuteActivity(ctx, l.LoggedCall, url, id, actionID).Get(ctx, nil)
}

// benchAttemptLog: what recording every attempt costs in actions per second. The same bare
// workflow with one HTTP activity, once as is and once recording its attempt in the
// attempt log as Threada does, in ABBA rounds on the dev server.
func benchAttemptLog(t *testing.T) {
	const (
		n           = 300
		concurrency = 16
		rounds      = 2
	)
	ts := temporaltest.Shared(t)
	e := newEnvWithTemporal(t, ts.Addr)
	tc := e.temporal()
	rec := &arrivals{at: map[string]time.Time{}}
	recvLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = http.Serve(recvLn, rec) }()
	defer recvLn.Close()
	recvURL := "http://" + recvLn.Addr().String() + "/hooks/zapier"

	queue := e.cfg.TaskQueue + "-attemptlog"
	w := worker.New(tc, queue, worker.Options{MaxConcurrentWorkflowTaskPollers: 8, MaxConcurrentActivityTaskPollers: 8})
	w.RegisterWorkflow(bareWorkflow)
	w.RegisterWorkflow(loggedWorkflow)
	w.RegisterActivity(bareCall)
	w.RegisterActivity(&attemptLogger{st: e.store})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	f := e.actionFixture(recvURL)

	// newActions stores k actions as the API would, outside the timed part.
	newActions := func(k int) []string {
		ids := make([]string, k)
		for i := range ids {
			a := &domain.Action{ID: domain.NewID(domain.PrefixAction), TenantID: f.tenant, TicketID: f.ticket, Type: domain.ActionTypeCustomHTTP, RequestedBy: "bench",
				Request: domain.ActionRequest{Method: "POST", URL: recvURL, BodyJSON: `{"event":"ticket_updated"}`, TimeoutMS: 10000, MaxAttempts: 5}}
			if err := e.store.CreateAction(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			ids[i] = a.ID
		}
		return ids
	}
	run := func(logged bool) float64 {
		var ids []string
		if logged {
			ids = newActions(n)
		}
		next := make(chan int, n)
		for i := range n {
			next <- i
		}
		close(next)
		var mu sync.Mutex
		var runs []client.WorkflowRun
		var wg sync.WaitGroup
		t0 := time.Now()
		for range concurrency {
			wg.Go(func() {
				for i := range next {
					id := fmt.Sprintf("al-%s-%d", domain.NewID("b"), i)
					opts := client.StartWorkflowOptions{ID: id, TaskQueue: queue}
					var r client.WorkflowRun
					var err error
					if logged {
						r, err = tc.ExecuteWorkflow(context.Background(), opts, loggedWorkflow, recvURL, id, ids[i])
					} else {
						r, err = tc.ExecuteWorkflow(context.Background(), opts, bareWorkflow, recvURL, id)
					}
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					runs = append(runs, r)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for _, r := range runs {
			if err := r.Get(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
		}
		return float64(len(runs)) / time.Since(t0).Seconds()
	}
	run(false) // warm up both
	run(true)
	var bare, logged []float64
	for range rounds {
		bare = append(bare, run(false))
		logged = append(logged, run(true), run(true))
		bare = append(bare, run(false))
	}
	var attempts int
	if err := e.store.DB().QueryRowContext(context.Background(), "SELECT count(*) FROM action_attempts WHERE tenant_id = ? AND outcome = 'succeeded'", f.tenant).Scan(&attempts); err != nil {
		t.Fatal(err)
	}
	if attempts != (1+2*rounds)*n {
		t.Fatalf("%d attempts logged, want %d", attempts, (1+2*rounds)*n)
	}
	fmt.Printf("\nAttempt log: a bare workflow with one HTTP activity, as is and recording its attempt as Threada does (StartAttempt + RecordAttempt on a real action), dev server; %d runs at concurrency %d, %d times each (ABBA rounds)\n\n", n, concurrency, 2*rounds)
	fmt.Println("| case | actions/s (mean; runs) |")
	fmt.Println("|---|---|")
	fmt.Printf("| bare | %.1f (%s) |\n| bare + attempt log | %.1f (%s) |\n", mean(bare), rates(bare), mean(logged), rates(logged))
	fmt.Printf("\nWith every attempt recorded: %.2fx the actions/s (aim: >= 0.95x), %.0f attempts recorded/s\n", mean(logged)/mean(bare), mean(logged))
}
