package workflows_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/threada/threada/activities"
	"github.com/threada/threada/internal/actions"
	"github.com/threada/threada/internal/config"
	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/httpguard"
	"github.com/threada/threada/internal/secretbox"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/internal/temporaltest"
	"github.com/threada/threada/internal/webhook"
	"github.com/threada/threada/workflows"
)

func TestMain(m *testing.M) { os.Exit(temporaltest.Main(func() int { return dbtest.Main(m) })) }

// TestDatabaseOutageAfterTheCall is the documented promise: when PostgreSQL goes down
// after the receiver got the call and before its answer is recorded, the call is not sent
// again, the action does not fail, and once PostgreSQL is back it ends with the receiver's
// answer, last_error naming the receiver's problem only. A private PostgreSQL cluster is
// stopped (immediate mode, as a crash) from inside the receiver, before it answers.
func TestDatabaseOutageAfterTheCall(t *testing.T) {
	pg := startPrivatePostgres(t)
	ctx := context.Background()
	st, err := store.Open(ctx, pg.url(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	tenant := &domain.Tenant{ID: domain.NewID(domain.PrefixTenant), Name: "Acme"}
	if err := st.CreateTenant(ctx, tenant, box.Seal(webhook.NewSecret(), tenant.ID)); err != nil {
		t.Fatal(err)
	}
	ticket, err := st.CreateTicket(ctx, tenant.ID, domain.TicketCreate{Subject: "s", Status: "open", Priority: "normal", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}

	ts := temporaltest.Shared(t)
	tc := ts.Client(t)
	queue := "outage-" + domain.NewID("q")
	guard, err := httpguard.New("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(tc, queue, worker.Options{})
	workflows.Register(w, &activities.Activities{Store: st, HTTP: guard.Client(), Secrets: box})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	runner := actions.NewRunner(tc, st, slog.New(slog.DiscardHandler), config.Config{TaskQueue: queue, TemporalNamespace: "default"})

	for _, tc2 := range []struct {
		name        string
		code        int
		maxAttempts int
		wantStatus  string
		wantError   string // with %s for the receiver's URL
	}{
		{"the receiver accepts", http.StatusOK, 5, domain.ActionSucceeded, ""},
		{"the receiver refuses", http.StatusServiceUnavailable, 1, domain.ActionFailed, "POST %s/hook: 503 Service Unavailable"},
	} {
		t.Run(tc2.name, func(t *testing.T) {
			var calls atomic.Int32
			stopped := make(chan struct{})
			rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if calls.Add(1) == 1 {
					if err := pg.stop(); err != nil {
						t.Error(err)
					}
					close(stopped)
				}
				w.WriteHeader(tc2.code)
				fmt.Fprintf(w, `{"answer":%d}`, tc2.code)
			}))
			defer rc.Close()
			a := &domain.Action{ID: domain.NewID(domain.PrefixAction), TenantID: tenant.ID, TicketID: ticket.Ticket.ID, Type: domain.ActionTypeCustomHTTP, RequestedBy: "x",
				Request: domain.ActionRequest{Method: "POST", URL: rc.URL + "/hook", BodyJSON: `{}`, TimeoutMS: 5000, MaxAttempts: tc2.maxAttempts}}
			if err := st.CreateAction(ctx, a); err != nil {
				t.Fatal(err)
			}
			if err := runner.Start(ctx, a); err != nil {
				t.Fatal(err)
			}
			select {
			case <-stopped:
			case <-time.After(30 * time.Second):
				t.Fatal("the receiver got no call")
			}

			// While PostgreSQL is down, the failures are the record's, where the API never
			// looks; nothing it reads for last_error carries them.
			t.Logf("while PostgreSQL is down, RecordAttempt fails with %q", waitForFailedRecord(t, tc, a.ID))
			if err := pg.start(); err != nil {
				t.Fatal(err)
			}

			wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
			defer cancel()
			werr := tc.GetWorkflow(wctx, a.ID, "").Get(wctx, nil)
			if (werr == nil) != (tc2.wantStatus == domain.ActionSucceeded) {
				t.Errorf("workflow ended with %v", werr)
			}
			got, err := st.ActionByID(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantError := tc2.wantError
			if wantError != "" {
				wantError = fmt.Sprintf(wantError, rc.URL)
			}
			if got.Status != tc2.wantStatus || got.Attempts != 1 || got.LastError != wantError || got.CompletedAt == nil {
				t.Errorf("recorded %s after %d attempts, last_error %q; want %s after 1 with %q", got.Status, got.Attempts, got.LastError, tc2.wantStatus, wantError)
			}
			if got.Response == nil || got.Response.StatusCode != tc2.code || got.Response.Body != fmt.Sprintf(`{"answer":%d}`, tc2.code) {
				t.Errorf("recorded response %+v", got.Response)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("the receiver got %d calls, want exactly 1", n)
			}
		})
	}
}

// waitForFailedRecord waits until the run's RecordAttempt has failed at least once and
// returns its failure, checking meanwhile that the activities the API reads (the attempt)
// carry no failure at all.
func waitForFailedRecord(t *testing.T, tc client.Client, id string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		desc, err := tc.DescribeWorkflowExecution(context.Background(), id, "")
		if err != nil {
			t.Fatal(err)
		}
		if s := desc.GetWorkflowExecutionInfo().GetStatus(); s != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Fatalf("the run ended (%v) while PostgreSQL was down", s)
		}
		for _, pa := range desc.GetPendingActivities() {
			name := pa.GetActivityType().GetName()
			switch {
			case name == contract.AttemptActivityName || name == contract.CallActivityName:
				if f := pa.GetLastFailure(); f != nil {
					t.Errorf("the attempt, which the API reads, carries a failure: %q", f.GetMessage())
				}
			case name == "RecordAttempt" && pa.GetAttempt() >= 2 && pa.GetLastFailure() != nil:
				return pa.GetLastFailure().GetMessage()
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("RecordAttempt never failed while PostgreSQL was down")
	return ""
}

// privatePostgres is a PostgreSQL cluster of the test's own, in a temporary directory, on
// a free port, so it can be stopped without disturbing anything else.
type privatePostgres struct {
	initdb, pgCtl string
	dir           string
	port          int
	owner         *user.User // the user the server runs as when the test runs as root
}

// startPrivatePostgres makes and starts a cluster, stopped when t ends. It skips t when
// the server binaries are not installed.
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	initdb, pgCtl := findPostgresBinary("initdb"), findPostgresBinary("pg_ctl")
	if initdb == "" || pgCtl == "" {
		t.Skip("PostgreSQL server binaries (initdb, pg_ctl) are not on PATH nor in /usr/lib/postgresql/*/bin; install PostgreSQL 15 to run this test")
	}
	dir, err := os.MkdirTemp("", "threada-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p := &privatePostgres{initdb: initdb, pgCtl: pgCtl, dir: dir}
	if os.Geteuid() == 0 { // initdb refuses to run as root
		if p.owner, err = user.Lookup("postgres"); err != nil {
			t.Fatalf("running as root needs a 'postgres' user to run the server as: %v", err)
		}
		uid, _ := strconv.Atoi(p.owner.Uid)
		gid, _ := strconv.Atoi(p.owner.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if err := p.run(p.initdb, "-D", p.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatal(err)
	}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Error(err)
		}
	})
	return p
}

func findPostgresBinary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(found) == 0 {
		return ""
	}
	return found[len(found)-1]
}

func (p *privatePostgres) data() string { return filepath.Join(p.dir, "data") }

func (p *privatePostgres) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

func (p *privatePostgres) start() error {
	return p.run(p.pgCtl, "-D", p.data(), "-l", filepath.Join(p.dir, "server.log"), "-w", "-t", "60",
		"-o", fmt.Sprintf("-h 127.0.0.1 -p %d -k %s -c fsync=off", p.port, p.dir), "start")
}

// stop stops the server at once, as a crash would; stopping a stopped server is a no-op.
func (p *privatePostgres) stop() error {
	if _, err := os.Stat(filepath.Join(p.data(), "postmaster.pid")); err != nil {
		return nil
	}
	return p.run(p.pgCtl, "-D", p.data(), "-m", "immediate", "-w", "stop")
}

// run runs a server binary, as the cluster's owner when the test runs as root.
func (p *privatePostgres) run(bin string, args ...string) error {
	cmd := exec.Command(bin, args...)
	if p.owner != nil {
		cmd = exec.Command("runuser", append([]string{"-u", p.owner.Username, "--", bin}, args...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "server.log"))
		return fmt.Errorf("%s %s: %v\n%s\n%s", filepath.Base(bin), strings.Join(args, " "), err, out, log)
	}
	return nil
}
