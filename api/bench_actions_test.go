package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/threada/threada/activities"
	"github.com/threada/threada/internal/actions"
	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/httpguard"
	"github.com/threada/threada/internal/temporaltest"
	"github.com/threada/threada/workflows"
)

// bareWorkflow is the baseline: one activity making one HTTP call, nothing else.
func bareWorkflow(ctx workflow.Context, url, id string) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
	})
	return workflow.ExecuteActivity(ctx, bareCall, url, id).Get(ctx, nil)
}

func bareCall(ctx context.Context, url, id string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(`{"event":"ticket_updated"}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// arrivals records when each call, by Idempotency-Key, first reached the receiver.
type arrivals struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (a *arrivals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	a.mu.Lock()
	if _, ok := a.at[r.Header.Get("Idempotency-Key")]; !ok {
		a.at[r.Header.Get("Idempotency-Key")] = time.Now()
	}
	a.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// actionsResult is one path's figures on one server.
type actionsResult struct {
	rates    []float64 // actions/s of each throughput run
	p50, p99 time.Duration
}

// benchActions: end-to-end actions per second and the time from POST to the receiver's
// first request, through the API, the workflow and the activity, next to a bare workflow
// with one HTTP activity started by a minimal SDK client; first on the dev server, then on
// Temporal's own server on PostgreSQL (scripts/temporal-server.sh), the production shape.
func benchActions(t *testing.T) {
	const (
		n              = 250
		concurrency    = 16
		latencySamples = 60
		rounds         = 2
	)
	type row struct {
		server      string
		bare, api   actionsResult
		notMeasured string
	}
	var rows []row
	dev := temporaltest.Shared(t)
	bare, api := measureActions(t, dev, n, concurrency, latencySamples, rounds)
	rows = append(rows, row{server: "dev server (CLI v1.5.1, SQLite in memory)", bare: bare, api: api})

	prodName := fmt.Sprintf("temporal-server %s on PostgreSQL (%d history shards)", temporaltest.ProductionVersion, temporaltest.ProductionShards)
	prod, err := temporaltest.StartProduction(dbtest.ServerURL())
	switch {
	case errors.Is(err, temporaltest.ErrNoServerBinary):
		rows = append(rows, row{server: prodName, notMeasured: "not measured: the server could not be built"})
		t.Log(err)
	case err != nil:
		t.Fatal(err)
	default:
		t.Cleanup(prod.Stop) // also when a measurement fails: it drops the server's databases
		bare, api = measureActions(t, prod, n, concurrency, latencySamples, rounds)
		rows = append(rows, row{server: prodName, bare: bare, api: api})
	}

	fmt.Printf("\nActions: receiver on loopback, API, worker and Temporal in this process's machine; throughput: %d runs at concurrency %d, %d times each (ABBA rounds); latency: %d runs one at a time\n\n", n, concurrency, 2*rounds, latencySamples)
	fmt.Println("| server | case | actions/s end to end, under load (mean; runs) | start to receiver p50, unloaded | p99, unloaded |")
	fmt.Println("|---|---|---|---|---|")
	for _, r := range rows {
		if r.notMeasured != "" {
			fmt.Printf("| %s | | %s | | |\n", r.server, r.notMeasured)
			continue
		}
		for _, c := range []struct {
			name string
			res  actionsResult
		}{{"bare workflow + one HTTP activity, minimal SDK client", r.bare}, {"Threada: POST /actions -> workflow -> signed call, recorded", r.api}} {
			fmt.Printf("| %s | %s | %.1f (%s) | %s | %s |\n", r.server, c.name, mean(c.res.rates), rates(c.res.rates), ms(c.res.p50), ms(c.res.p99))
		}
	}
	fmt.Println()
	for _, r := range rows {
		if r.notMeasured == "" {
			fmt.Printf("Threada vs bare on the %s: %.2fx actions/s (aim 1.0x, >= 0.7x), %.2fx p50\n", r.server, mean(r.api.rates)/mean(r.bare.rates), float64(r.api.p50)/float64(r.bare.p50))
		}
	}
	fmt.Println()
}

// measureActions runs both paths against ts: a warm-up, latency one run at a time
// (alternating the paths), then throughput in rounds of bare, Threada, Threada, bare so
// that the server's growing state and its pauses weigh on both alike.
func measureActions(t *testing.T, ts *temporaltest.Server, n, concurrency, latencySamples, rounds int) (bareRes, apiRes actionsResult) {
	e := newEnvWithTemporal(t, ts.Addr)
	e.srv.log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	e.srv.actions = actions.NewRunner(e.srv.actions.Client(), e.store, e.srv.log, e.cfg)
	e.app = e.srv.app()
	tc := e.temporal()

	rec := &arrivals{at: map[string]time.Time{}}
	recvLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = http.Serve(recvLn, rec) }()
	defer recvLn.Close()
	recvURL := "http://" + recvLn.Addr().String()

	stopWorker := startBenchWorker(t, e, tc)
	defer stopWorker()
	bareQueue := e.cfg.TaskQueue + "-bare"
	bw := worker.New(tc, bareQueue, worker.Options{})
	bw.RegisterWorkflow(bareWorkflow)
	bw.RegisterActivity(bareCall)
	if err := bw.Start(); err != nil {
		t.Fatal(err)
	}
	defer bw.Stop()

	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.app.Listener(apiLn) }()
	defer e.app.Shutdown()
	base := "http://" + apiLn.Addr().String() + "/api/v1/public"
	f := e.actionFixture(recvURL)
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}}
	body, _ := json.Marshal(referenceAction())

	viaAPI := func(i int) (string, time.Time, error) {
		start := time.Now()
		req, _ := http.NewRequest("POST", base+"/tickets/"+f.ticket+"/actions", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Api-Key", f.key)
		resp, err := httpc.Do(req)
		if err != nil {
			return "", start, err
		}
		defer resp.Body.Close()
		var env struct{ Action actionJSON }
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || resp.StatusCode != 201 {
			return "", start, fmt.Errorf("create: %d %v", resp.StatusCode, err)
		}
		return env.Action.ActionID, start, nil
	}
	bare := func(i int) (string, time.Time, error) {
		id := fmt.Sprintf("bare-%s-%d", domain.NewID("b"), i)
		start := time.Now()
		opts := client.StartWorkflowOptions{ID: id, TaskQueue: bareQueue}
		if os.Getenv("BARE_SA") != "" {
			opts.TypedSearchAttributes = temporal.NewSearchAttributes(contract.SearchTenantID.ValueSet("ten_x"), contract.SearchTicketID.ValueSet("tkt_x"), contract.SearchActionType.ValueSet("custom_http"))
		}
		_, err := tc.ExecuteWorkflow(context.Background(), opts, bareWorkflow, recvURL+"/hooks/zapier", id)
		return id, start, err
	}
	// waitAll waits for every run to end and returns the start-to-receiver latencies.
	waitAll := func(name string, begun map[string]time.Time) []time.Duration {
		for id := range begun {
			if err := tc.GetWorkflow(context.Background(), id, "").Get(context.Background(), nil); err != nil {
				t.Fatalf("%s %s: %v", name, id, err)
			}
		}
		var lat []time.Duration
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for id, at := range begun {
			if arrived, ok := rec.at[id]; ok {
				lat = append(lat, arrived.Sub(at))
			}
		}
		if len(lat) != len(begun) {
			t.Fatalf("%s: %d of %d calls reached the receiver", name, len(lat), len(begun))
		}
		return lat
	}
	// throughput starts n runs from `concurrency` goroutines and returns runs per second
	// until the last one ended.
	throughput := func(name string, start func(int) (string, time.Time, error)) float64 {
		var mu sync.Mutex
		begun := map[string]time.Time{}
		var wg sync.WaitGroup
		next := make(chan int, n)
		for i := 0; i < n; i++ {
			next <- i
		}
		close(next)
		t0 := time.Now()
		for c := 0; c < concurrency; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					id, at, err := start(i)
					if err != nil {
						t.Errorf("%s: %v", name, err)
						return
					}
					mu.Lock()
					begun[id] = at
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		waitAll(name, begun)
		return float64(n) / time.Since(t0).Seconds()
	}

	// Warm both paths.
	for i := 0; i < 20; i++ {
		if _, _, err := viaAPI(i); err != nil {
			t.Fatal(err)
		}
		if _, _, err := bare(i); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second)

	apiBegun, bareBegun := map[string]time.Time{}, map[string]time.Time{}
	for i := 0; i < latencySamples; i++ {
		for _, p := range []struct {
			start func(int) (string, time.Time, error)
			begun map[string]time.Time
		}{{viaAPI, apiBegun}, {bare, bareBegun}} {
			id, at, err := p.start(i)
			if err != nil {
				t.Fatal(err)
			}
			p.begun[id] = at
			if err := tc.GetWorkflow(context.Background(), id, "").Get(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	apiLat, bareLat := waitAll("threada", apiBegun), waitAll("bare", bareBegun)
	apiRes.p50, apiRes.p99 = percentile(apiLat, 50), percentile(apiLat, 99)
	bareRes.p50, bareRes.p99 = percentile(bareLat, 50), percentile(bareLat, 99)

	for r := 0; r < rounds; r++ {
		bareRes.rates = append(bareRes.rates, throughput("bare", bare))
		apiRes.rates = append(apiRes.rates, throughput("threada", viaAPI), throughput("threada", viaAPI))
		bareRes.rates = append(bareRes.rates, throughput("bare", bare))
	}
	return bareRes, apiRes
}

func mean(xs []float64) float64 {
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

func rates(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(parts, "/")
}

// startBenchWorker runs the action workflows and activities on e's task queue with the
// worker binary's options (ts.WorkerClient gives its client's), allowing calls to loopback
// receivers; the returned func stops it.
func startBenchWorker(t *testing.T, e *testEnv, tc client.Client) func() {
	t.Helper()
	guard, err := httpguard.New("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	workflows.DisableStickyExecution() // as the worker binary
	w := worker.New(tc, e.cfg.TaskQueue, workflows.WorkerOptions(0))
	runner := actions.NewRunner(tc, e.store, slog.New(slog.DiscardHandler), e.cfg)
	workflows.Register(w, &activities.Activities{Store: e.store, HTTP: guard.Client(), Secrets: e.box,
		StartAction: runner.Start, Wake: runner.Wake})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	return w.Stop
}
