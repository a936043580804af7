package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threada/threada/internal/cpuuse"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/temporaltest"
)

// benchWritingRule: issue 21's measurement, as its reporters made it. The API binary and
// the worker binary (one, then two) run as processes beside the Temporal dev server and
// PostgreSQL; the tenant has one rule that writes on every new ticket (condition true,
// set_fields adding a tag); 16 clients create tickets through HTTP as fast as the API
// takes them for WRITE_SECONDS (20). Printed: the create rate against pgbench's two-row
// and three-row yardsticks (PGBENCH_TWO_ROW, PGBENCH_CREATES, measured by scripts/pgbench.sh
// just before), and how long after the creates stop the last ticket carries its tag.
func benchWritingRule(t *testing.T) {
	seconds := 20
	if s, err := strconv.Atoi(os.Getenv("WRITE_SECONDS")); err == nil && s > 0 {
		seconds = s
	}
	ts := temporaltest.Shared(t)
	yard := func(name string) float64 { v, _ := strconv.ParseFloat(os.Getenv(name), 64); return v }
	twoRow, threeRow := yard("PGBENCH_TWO_ROW"), yard("PGBENCH_CREATES")
	fmt.Printf("\nA writing rule on every new ticket (issue 21): API and worker binaries, the dev server and PostgreSQL on this machine; 16 clients create tickets for %d s, then the outbox drains\n\n", seconds)
	fmt.Println("| workers | creates/s | / pgbench two rows | / pgbench three rows, one statement | last ticket tagged after the creates stop | evaluated twice | aim |")
	fmt.Println("|---|---|---|---|---|---|---|")
	var cores []string
	runs := []int{1, 2}
	if w := os.Getenv("WRITE_WORKERS"); w != "" { // a quicker look, by hand
		n, _ := strconv.Atoi(w)
		runs = []int{n}
	}
	for _, workers := range runs {
		r := writingRuleRun(t, ts, workers, 16, time.Duration(seconds)*time.Second)
		ratio := func(y float64) string {
			if y == 0 {
				return "(run make bench)"
			}
			return fmt.Sprintf("%.2fx (%.0f)", r.rate/y, y)
		}
		aim := map[int]string{1: "drain <= 3 s; creates >= 0.6x two rows", 2: "drain <= 1 s"}[workers]
		fmt.Printf("| %d | %.0f | %s | %s | %.2f s | %d | %s |\n", workers, r.rate, ratio(twoRow), ratio(threeRow), r.drain.Seconds(), r.twice, aim)
		cores = append(cores, fmt.Sprintf("| %d | %.2f | %.2f | %.2f (%.2f for the API, %.2f for the worker) | %.2f | %.2f |", workers, r.cores["api"], r.cores["worker"],
			r.cores["postgres"], r.cores["postgres for api"], r.cores["postgres for worker"], r.cores["clients"], r.cores["temporal"]))
	}
	fmt.Printf("\nCores used during the creates (of %d)\n\n", runtime.NumCPU())
	fmt.Println("| workers | API | worker(s) | PostgreSQL | the 16 clients (this test) | Temporal dev server |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, c := range cores {
		fmt.Println(c)
	}
	fmt.Println()
}

type writingRuleResult struct {
	rate  float64            // creates per second over the load
	drain time.Duration      // from the load's end to every ticket tagged
	twice int                // (automation, event) pairs with more than one run, or a ticket tagged twice
	cores map[string]float64 // CPU used during the load, in cores, by process group
}

func writingRuleRun(t *testing.T, ts *temporaltest.Server, workers, clients int, d time.Duration) writingRuleResult {
	e, dsn := envOnURL(t, ts.Addr)
	tenant, key := e.tenantWithKey()
	name, cond := "tag every new ticket", "true"
	events := []string{domain.EventTicketCreated}
	acts := []domain.AutomationAction{{Type: domain.AutomationSetFields, AddTags: []string{"seen"}}}
	in := domain.AutomationInput{Name: &name, Events: &events, Condition: &cond, Actions: &acts}
	if err := in.CheckStatic(true); err != nil {
		t.Fatal(err)
	}
	rule := os.Getenv("WRITE_NO_RULE") == "" // (by hand: the same load without the rule)
	if !rule {
		in.Enabled = new(false)
	}
	if _, err := e.store.CreateAutomation(context.Background(), tenant, in); err != nil {
		t.Fatal(err)
	}
	// PROFILE_DIR: the API's and the first worker's CPU and allocation profiles over the
	// middle of the load are written there (docs/benchmarks.md).
	profiles := os.Getenv("PROFILE_DIR")
	profiled := map[string]string{} // name -> METRICS_ADDR
	extra := func(name string) []string {
		if profiles == "" || profiled[name] != "" {
			return nil
		}
		profiled[name] = freeAddr(t)
		return []string{"PPROF=true", "METRICS_ADDR=" + profiled[name]}
	}
	var workerPIDs []int
	for range workers {
		w := startWorker(t, e, dsn, ts.Addr, append(extra(fmt.Sprintf("worker%d", workers)), "LOG_LEVEL=warn")...)
		workerPIDs = append(workerPIDs, w.cmd.Process.Pid)
	}
	api := startAPI(t, dsn, append(extra(fmt.Sprintf("api%d", workers)), "LOG_LEVEL=warn", "RATE_LIMIT_KEY_RPS=0", "RATE_LIMIT_TENANT_RPS=0",
		"TEMPORAL_ADDRESS="+ts.Addr, "TEMPORAL_TASK_QUEUE="+e.cfg.TaskQueue, "SECRETS_KEY="+e.cfg.SecretsKey)...)
	le := &loadEnv{testEnv: e, tenant: tenant, key: key, base: api.base + "/api/v1/public",
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}}
	// Warm up: connections, the key cache, the rule cache.
	for range 50 {
		if _, err := le.createTicket(); err != nil {
			t.Fatal(err)
		}
	}
	if rule {
		waitTagged(t, e, tenant, "", time.Minute)
	}

	var created atomic.Int64
	var last atomic.Value // the ticket whose create returned last
	var wg sync.WaitGroup
	groups := map[string]func() []int{
		"api": func() []int { return []int{api.cmd.Process.Pid} }, "worker": func() []int { return workerPIDs },
		"postgres": func() []int { return cpuuse.Named("postgres") }, "clients": func() []int { return []int{os.Getpid()} },
		"temporal": func() []int { return cpuuse.Named("temporal") },
	}
	// PostgreSQL's share by whose connection it served (application_name). The backends
	// are listed when counted: one that a pool opened during the load counts all it used.
	for _, app := range []string{"threada-api", "threada-worker"} {
		groups["postgres for "+strings.TrimPrefix(app, "threada-")] = func() []int {
			var pids []int
			if err := e.store.DB().NewRaw("SELECT pid FROM pg_stat_activity WHERE application_name = ?", app).Scan(context.Background(), &pids); err != nil {
				t.Error(err)
			}
			return pids
		}
	}
	cpuSeconds := func() map[string]float64 {
		out := map[string]float64{}
		for g, pids := range groups {
			out[g] = cpuuse.Seconds(pids()...)
		}
		return out
	}
	before := cpuSeconds()
	start := time.Now()
	until := start.Add(d)
	for range clients {
		wg.Go(func() {
			for time.Now().Before(until) {
				id, err := leanCreate(le)
				if err != nil {
					t.Error(err)
					return
				}
				created.Add(1)
				last.Store(id)
			}
		})
	}
	for name, addr := range profiled {
		wg.Go(func() {
			time.Sleep(d / 4)
			profile(t, addr, "profile?seconds="+strconv.Itoa(int(d.Seconds()/2)), filepath.Join(profiles, name+".cpu.pprof"))
			profile(t, addr, "allocs", filepath.Join(profiles, name+".allocs.pprof"))
		})
	}
	wg.Wait()
	stopped := time.Now()
	after := cpuSeconds()
	rate := float64(created.Load()) / stopped.Sub(start).Seconds()
	shares := map[string]float64{}
	for g := range groups {
		shares[g] = (after[g] - before[g]) / stopped.Sub(start).Seconds()
	}
	var drain time.Duration
	if rule {
		waitTagged(t, e, tenant, last.Load().(string), 5*time.Minute)
		drain = time.Since(stopped)
		waitTagged(t, e, tenant, "", time.Minute) // and every other
	}

	var twice int
	if err := e.store.DB().NewRaw(`SELECT
		(SELECT count(*) FROM (SELECT 1 FROM automation_runs WHERE tenant_id = ? GROUP BY automation_id, event_id HAVING count(*) > 1) d) +
		(SELECT count(*) FROM (SELECT 1 FROM ticket_events WHERE tenant_id = ? AND type = 'ticket.updated' GROUP BY ticket_id HAVING count(*) > 1) u)`,
		tenant, tenant).Scan(context.Background(), &twice); err != nil {
		t.Fatal(err)
	}
	return writingRuleResult{rate: rate, drain: drain, twice: twice, cores: shares}
}

// leanCreate creates a ticket as a load tool would: it sends the request and reads the
// whole answer, but looks in it only for the ticket's id, so that the 16 clients take
// little of the machine from what is measured.
func leanCreate(le *loadEnv) (string, error) {
	hreq, _ := http.NewRequest("POST", le.base+"/tickets", bytes.NewReader(benchTicketBody))
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("X-Api-Key", le.key)
	resp, err := le.client.Do(hreq)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	const field = `"ticket_id":"`
	i := bytes.Index(b, []byte(field))
	if resp.StatusCode != http.StatusCreated || i < 0 {
		return "", fmt.Errorf("POST /tickets: %d %s", resp.StatusCode, b)
	}
	b = b[i+len(field):]
	return string(b[:bytes.IndexByte(b, '"')]), nil
}

// profile saves a process's profile, served on its METRICS_ADDR with PPROF=true.
func profile(t *testing.T, addr, what, file string) {
	resp, err := http.Get("http://" + addr + "/debug/pprof/" + what)
	if err != nil {
		t.Error(err)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(file, b, 0o644)
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("profile %s: %d %v", what, resp.StatusCode, err)
	}
}

// waitTagged waits until the ticket (every ticket of the tenant, if ticket is "") carries
// the rule's tag, polling every 10 ms.
func waitTagged(t *testing.T, e *testEnv, tenant, ticket string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	q := "SELECT count(*) FROM tickets WHERE tenant_id = ? AND NOT tags @> '{seen}'"
	args := []any{tenant}
	if ticket != "" {
		q += " AND id = ?"
		args = append(args, ticket)
	}
	for {
		var left int
		if err := e.store.DB().NewRaw(q, args...).Scan(context.Background(), &left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d tickets still without the rule's tag after %v", left, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
