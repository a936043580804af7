package topology

import (
	"bytes"
	"database/sql"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/secretbox"
	"github.com/threada/threada/internal/temporaltest"
)

// Timeline of the load, from its start.
const (
	killAt      = 8 * time.Second  // SIGKILL API b and worker a
	restartAt   = 13 * time.Second // start them again
	revokeAt    = 16 * time.Second // revoke a key through API a, watch API b refuse it
	loadFor     = 50 * time.Second
	drainWithin = 2 * time.Minute
	loaders     = 6 // goroutines, each one ticket write and one action a second
	// crashSettles: after the restart, the killed worker's attempts time out and run again
	// elsewhere; the quiet tenant's latency is not held to its bound until then, and the
	// bulk tenant's replay starts then.
	crashSettles = 15 * time.Second
)

// TestTopology runs the production shape on one machine and checks the README's promises
// across process crashes: every accepted action reaches the receiver (by its
// Idempotency-Key, a repeat only as a new attempt), every ticket event is evaluated exactly
// once, no acknowledged ticket write is lost, a revoked key is refused by every API
// process within a second, and, beside the load, a quiet tenant's actions keep their
// latency bound while a bulk tenant replays up to 5,000 actions across both workers.
func TestTopology(t *testing.T) {
	if os.Getenv("THREADA_TOPOLOGY") == "" {
		t.Skip("the topology test runs with THREADA_TOPOLOGY=1 (make test-topology)")
	}
	began := time.Now()
	root := moduleRoot(t)
	binDir := t.TempDir()
	built := make(chan error, 1)
	go func() { built <- buildBinaries(root, binDir) }()
	ts, err := temporaltest.StartProduction(dbtest.ServerURL())
	if errors.Is(err, temporaltest.ErrNoServerBinary) {
		<-built
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ts.Stop)
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	t.Logf("Temporal server %s (%d history shards, PostgreSQL) on %s; binaries built; %v", temporaltest.ProductionVersion, temporaltest.ProductionShards, ts.Addr, time.Since(began).Round(time.Second))

	dsn := dbtest.UnusedURL(t)
	// Eight connections a process (not the default 16): two APIs, two workers and the
	// Temporal server share the test server's 100.
	env := []string{"DATABASE_URL=" + dsn, "TEMPORAL_ADDRESS=" + ts.Addr, "SECRETS_KEY=" + secretbox.NewKey(), "SHUTDOWN_TIMEOUT=5s", "DATABASE_MAX_CONNS=8"}
	apiBin, workerBin := filepath.Join(binDir, "api"), filepath.Join(binDir, "worker")
	cli := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(apiBin, args...)
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("api %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	cli("migrate")
	rc := newReceiver(t)
	var tenant struct {
		TenantID      string `json:"tenant_id"`
		SigningSecret string `json:"signing_secret"`
	}
	mustJSON(t, cli("tenant", "create", "--name", "Topology", "--actions-base-url", rc.URL), &tenant)
	rc.setSecret(tenant.SigningSecret)
	var admin struct {
		APIKey string `json:"api_key"`
	}
	mustJSON(t, cli("key", "create", "--tenant", tenant.TenantID, "--name", "load",
		"--scopes", "support.read,support.write,support.actions,admin.keys,admin.automations"), &admin)

	var apis, workers []*process
	var addrs []string
	for _, name := range []string{"api a", "api b"} {
		addr := freeAddr(t)
		addrs = append(addrs, addr)
		apis = append(apis, &process{name: name, bin: apiBin, args: []string{"serve"}, ready: apiReady("http://" + addr),
			env: append(slices.Clone(env), "HTTP_ADDR="+addr, "LOG_LEVEL=warn", "RATE_LIMIT_PROCESSES=2",
				"RATE_LIMIT_KEY_RPS=0", "RATE_LIMIT_TENANT_RPS=0")})
	}
	for _, name := range []string{"worker a", "worker b"} {
		workers = append(workers, &process{name: name, bin: workerBin, ready: workerReady,
			env: append(slices.Clone(env), "ACTIONS_EGRESS_ALLOW_CIDRS=127.0.0.0/8")})
	}
	for _, p := range append(slices.Clone(apis), workers...) {
		p.start(t)
		t.Cleanup(p.kill)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range append(slices.Clone(apis), workers...) {
				t.Logf("%s, last lines:\n%s", p.name, tail(p.output(), 15))
			}
		}
	})
	base := func(i int) string { return "http://" + addrs[i%2] }
	db := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(dsn)))
	defer db.Close()
	nb := newNeighbours(t, cli, db, base)
	nb.measureAlone(t, base)

	a := &apiClient{http: &http.Client{Timeout: 15 * time.Second}, key: admin.APIKey}
	var auto struct {
		Automation struct {
			AutomationID string `json:"automation_id"`
		}
	}
	status, body := a.do(base(0), "POST", "/api/v1/admin/automations", map[string]any{
		"name": "Tell the receiver about subject changes", "events": []string{"ticket.updated"},
		"condition": `changed("subject")`,
		"actions": []map[string]any{
			{"type": "custom_http", "method": "POST", "url": "/hooks/automation", "timeout_ms": 2000, "max_attempts": 10,
				"body_json": `{"ticket": "{{ ticket.ticket_id }}", "subject": "{{ ticket.subject }}"}`},
			{"type": "set_fields", "add_tags": []string{"automated"}},
		},
	})
	if status != http.StatusCreated {
		t.Fatalf("creating the automation: %d %s", status, body)
	}
	mustJSON(t, body, &auto)

	// The load: ticket creates and PATCHes, and custom_http actions, spread over both API
	// processes, while the timeline below kills and restarts processes.
	led := &ledger{tickets: map[string]*revisions{}, outcomes: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	loadStart := time.Now()
	replayAt := restartAt + crashSettles
	wg.Go(func() { nb.load(base, loadStart, killAt, replayAt, replayAt, stop) })
	for g := range loaders {
		wg.Go(func() {
			time.Sleep(time.Duration(g) * time.Second / loaders) // spread over each second
			led.load(a, g, base, stop)
		})
	}
	at := func(d time.Duration) { time.Sleep(time.Until(loadStart.Add(d))) }

	at(killAt)
	apis[1].kill()
	workers[0].kill()
	t.Logf("%v: SIGKILLed %s and %s", killAt, apis[1].name, workers[0].name)
	at(restartAt)
	apis[1].start(t)
	workers[0].start(t)
	t.Logf("%v: %s and %s started again", time.Since(loadStart).Round(time.Millisecond), apis[1].name, workers[0].name)
	at(revokeAt)
	refusedAfter := checkRevocation(t, a, base)
	t.Logf("%v: a key revoked through %s was refused by %s after %v", revokeAt, apis[0].name, apis[1].name, refusedAfter.Round(time.Millisecond))
	at(replayAt)
	nb.startReplay(t, base(0))
	t.Logf("%v: the bulk tenant started replaying", replayAt)
	at(loadFor)
	close(stop)
	wg.Wait()
	t.Logf("load stopped after %v: %s", time.Since(loadStart).Round(time.Second), led.summary())

	nb.check(t, db)
	drainStart := time.Now()
	if err := waitDrained(db, rc, tenant.TenantID, drainWithin); err != nil {
		t.Fatalf("not drained within %v: %v", drainWithin, err)
	}
	t.Logf("drained in %v", time.Since(drainStart).Round(100*time.Millisecond))

	checkActions(t, db, rc, led, tenant.TenantID, auto.Automation.AutomationID)
	checkEvaluations(t, db, tenant.TenantID, auto.Automation.AutomationID)
	checkTickets(t, a, base, led)
	t.Logf("whole test %v", time.Since(began).Round(time.Second))
}
