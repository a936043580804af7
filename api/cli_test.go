package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/secretbox"
	"github.com/threada/threada/internal/store"
)

// runCLI runs the program in-process with the given environment and returns stdout.
func runCLI(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	return stdout.String(), err
}

func TestMigrateIsSafeTwiceAndConcurrently(t *testing.T) {
	env := map[string]string{"DATABASE_URL": dbtest.UnusedURL(t)}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = runCLI(t, env, "migrate") }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate %d: %v", i, err)
		}
	}
	out, err := runCLI(t, env, "migrate")
	if err != nil || !strings.Contains(out, `"applied": []`) {
		t.Fatalf("second migrate: %v %s", err, out)
	}
	var status struct {
		Migrations []struct {
			Name    string `json:"name"`
			Applied bool   `json:"applied"`
		} `json:"migrations"`
	}
	out, err = runCLI(t, env, "migrate", "status")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &status); err != nil || len(status.Migrations) == 0 {
		t.Fatalf("status: %v %s", err, out)
	}
	for _, m := range status.Migrations {
		if !m.Applied {
			t.Errorf("%s not applied", m.Name)
		}
	}
	if out, err = runCLI(t, env, "migrate", "rollback"); err != nil || !strings.Contains(out, "rolled_back") {
		t.Fatalf("rollback: %v %s", err, out)
	}
	out, _ = runCLI(t, env, "migrate", "status")
	if !strings.Contains(out, `"applied": false`) {
		t.Errorf("after rollback: %s", out)
	}
	if _, err := runCLI(t, env, "migrate"); err != nil {
		t.Fatalf("migrate after rollback: %v", err)
	}
}

func TestTenantAndKeyCommands(t *testing.T) {
	env := map[string]string{"DATABASE_URL": dbtest.NewURL(t), "SECRETS_KEY": secretbox.NewKey()}
	out, err := runCLI(t, env, "tenant", "create", "--name", "Acme", "--actions-base-url", "https://hooks.acme.example")
	if err != nil {
		t.Fatal(err)
	}
	var tenant struct {
		TenantID string `json:"tenant_id"`
	}
	if err := json.Unmarshal([]byte(out), &tenant); err != nil || !strings.HasPrefix(tenant.TenantID, "ten_") {
		t.Fatalf("tenant create printed %q", out)
	}
	out, err = runCLI(t, env, "key", "create", "--tenant", tenant.TenantID, "--name", "zapier", "--scopes", "support.read,support.write,support.actions")
	if err != nil {
		t.Fatal(err)
	}
	var key struct {
		KeyID  string `json:"key_id"`
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(out), &key); err != nil || !strings.HasPrefix(key.KeyID, "key_") || !strings.HasPrefix(key.APIKey, "thr_") {
		t.Fatalf("key create printed %q", out)
	}

	// The printed key works against the API, on the same database.
	st, err := store.Open(context.Background(), env["DATABASE_URL"], store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := newEnvOn(t, "127.0.0.1:1", st).srv
	if resp := doValidated(t, srv.app(), req{method: "GET", path: "/api/v1/public/tickets", key: key.APIKey}); resp.Status != 200 {
		t.Fatalf("the new key: %d %s", resp.Status, resp.Body)
	}
	// Only its hash is stored.
	var leaked int
	if err := st.DB().NewRaw("SELECT count(*) FROM api_keys WHERE encode(secret_hash, 'escape') LIKE ? OR prefix = ?", "%"+key.APIKey[20:]+"%", key.APIKey).Scan(context.Background(), &leaked); err != nil || leaked != 0 {
		t.Errorf("the secret is stored in plaintext (%d rows, %v)", leaked, err)
	}

	env["THREADA_API_KEY"] = key.APIKey
	if _, err := runCLI(t, env, "key", "verify"); err != nil {
		t.Errorf("verify: %v", err)
	}
	if _, err := runCLI(t, env, "key", "revoke", key.KeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, env, "key", "verify"); err == nil {
		t.Error("verify accepted a revoked key")
	}
	// The API caches keys; the CLI's revocation reaches it through a notification.
	deadline := time.Now().Add(3 * time.Second)
	for {
		resp := doValidated(t, srv.app(), req{method: "GET", path: "/api/v1/public/tickets", key: key.APIKey})
		if resp.Status == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked key still answered %d after 3 s", resp.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The operator sets a tenant's delivery weight; nothing else changes.
	out, err = runCLI(t, env, "tenant", "update", tenant.TenantID, "--delivery-weight", "2.5")
	if err != nil || !strings.Contains(out, `"delivery_weight": 2.5`) || !strings.Contains(out, "hooks.acme.example") {
		t.Fatalf("tenant update --delivery-weight: %v %s", err, out)
	}
	if w, err := st.DeliveryWeight(context.Background(), tenant.TenantID); err != nil || w != 2.5 {
		t.Fatalf("stored weight %v, %v", w, err)
	}

	for _, args := range [][]string{
		{"tenant", "update", tenant.TenantID, "--delivery-weight", "0"},
		{"tenant", "update", tenant.TenantID, "--delivery-weight", "101"},
		{"tenant", "update", tenant.TenantID, "--delivery-weight", "NaN"},
		{"tenant", "update", tenant.TenantID},
		{"key", "create", "--tenant", tenant.TenantID, "--name", "x", "--scopes", "support.read,support.admin"},
		{"key", "create", "--tenant", tenant.TenantID, "--name", "x"},
		{"tenant", "create"},
		{"tenant", "create", "--name", "x", "--actions-base-url", "ftp://x"},
		{"frobnicate"},
	} {
		if _, err := runCLI(t, env, args...); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if _, err := runCLI(t, env, "key", "create", "--tenant", "ten_00000000000000000000000000", "--name", "x", "--scopes", "support.read"); err == nil || !strings.Contains(err.Error(), "tenant") {
		t.Errorf("key for an unknown tenant: %v", err)
	}
}

// TestBadDatabaseURL: a wrong or unreachable DATABASE_URL fails at once with one line
// naming the problem, and never the password.
func TestBadDatabaseURL(t *testing.T) {
	const password = "hunter2-secret"
	missing := strings.Replace(dbtest.URLFor("threada_test_never_created"), "postgres@", "postgres:"+password+"@", 1)
	for _, tc := range []struct {
		name, url, want string
	}{
		{"unreachable", "postgres://app:" + password + "@127.0.0.1:1/threada?sslmode=disable", "cannot reach PostgreSQL at 127.0.0.1:1"},
		{"not a URL", "postgres://app:" + password + "@127.0.0.1:port/threada", "not a valid URL"},
		{"wrong scheme", "mysql://app:" + password + "@127.0.0.1/threada", "must start with postgres://"},
		{"no database", "postgres://app:" + password + "@127.0.0.1:5432", "names no database"},
		{"missing database", missing, "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := runCLI(t, map[string]string{"DATABASE_URL": tc.url}, "serve")
			if err == nil {
				t.Fatal("serve started")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, password) || strings.Contains(msg, "\n") {
				t.Errorf("message %q: want one line containing %q and no password", msg, tc.want)
			}
			if time.Since(start) > 15*time.Second {
				t.Errorf("took %v to fail", time.Since(start))
			}
		})
	}
}

var (
	buildMu  sync.Mutex
	binaries = map[string]string{}
)

// buildBinary builds a command of this module once per test binary and returns its path.
func buildBinary(t *testing.T, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := binaries[pkg]; ok {
		return p
	}
	// Not t.TempDir: later tests reuse the binary.
	dir, err := os.MkdirTemp("", "threada-bin")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", p, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	binaries[pkg] = p
	return p
}

func apiBinary(t *testing.T) string { return buildBinary(t, "github.com/threada/threada/api") }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// apiProcess is `api serve` running as a real process.
type apiProcess struct {
	cmd  *exec.Cmd
	base string
	logs *syncBuffer
	done chan error
}

// startAPI runs `api serve` on dsn, with extra variables (NAME=value) in its environment.
func startAPI(t *testing.T, dsn string, extra ...string) *apiProcess {
	t.Helper()
	// freeAddr's port can be taken by another process before the API binds it: then the API
	// exits saying so, and it is started again on another port.
	for try := 1; ; try++ {
		p, err := startAPIOn(t, freeAddr(t), dsn, extra...)
		if err == nil {
			return p
		}
		if try == 3 || !strings.Contains(p.logs.String(), "address already in use") {
			t.Fatalf("%v\n%s", err, p.logs)
		}
	}
}

func startAPIOn(t *testing.T, addr, dsn string, extra ...string) (*apiProcess, error) {
	t.Helper()
	p := &apiProcess{base: "http://" + addr, logs: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(apiBinary(t), "serve")
	p.cmd.Env = append(append(os.Environ(), "DATABASE_URL="+dsn, "HTTP_ADDR="+addr), extra...)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(p.base + "/livez")
		if err == nil {
			resp.Body.Close()
			return p, nil
		}
		select {
		case err := <-p.done:
			return p, fmt.Errorf("api exited at start: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return p, fmt.Errorf("api did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *apiProcess) call(t *testing.T, method, path, key string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	hreq, _ := http.NewRequest(method, p.base+path, r)
	hreq.Header.Set("X-Api-Key", key)
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// TestServeDrainsOnSIGTERMAndDataSurvivesRestart runs the real binary: a request in flight
// when SIGTERM arrives completes, the process exits 0, and a new process serves the data.
func TestServeDrainsOnSIGTERMAndDataSurvivesRestart(t *testing.T) {
	dsn := dbtest.NewURL(t)
	env := map[string]string{"DATABASE_URL": dsn, "SECRETS_KEY": secretbox.NewKey()}
	out, err := runCLI(t, env, "tenant", "create", "--name", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	var tenant struct {
		TenantID string `json:"tenant_id"`
	}
	_ = json.Unmarshal([]byte(out), &tenant)
	out, err = runCLI(t, env, "key", "create", "--tenant", tenant.TenantID, "--name", "k", "--scopes", "support.read,support.write")
	if err != nil {
		t.Fatal(err)
	}
	var key struct {
		APIKey string `json:"api_key"`
	}
	_ = json.Unmarshal([]byte(out), &key)

	p := startAPI(t, dsn)
	status, body := p.call(t, "POST", "/api/v1/public/tickets", key.APIKey, map[string]any{"subject": "survives", "initial_message": map[string]any{"content": "hello"}})
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	var tk ticketJSON
	_ = json.Unmarshal(body, &tk)
	id := tk.Ticket.Summary.TicketID

	// Hold the ticket's row lock so a PATCH is in flight when SIGTERM arrives.
	st, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tx, err := st.DB().BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(context.Background(), "SELECT 1 FROM tickets WHERE id = ? FOR UPDATE", id); err != nil {
		t.Fatal(err)
	}
	patched := make(chan int, 1)
	go func() {
		s, _ := p.call(t, "PATCH", "/api/v1/public/tickets/"+id, key.APIKey, map[string]any{"status": "solved"})
		patched <- s
	}()
	time.Sleep(300 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-p.done:
		t.Fatalf("exited with a request in flight: %v", err)
	default:
	}
	_ = tx.Rollback()
	if s := <-patched; s != 200 {
		t.Errorf("in-flight PATCH answered %d, want 200", s)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.logs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}

	p2 := startAPI(t, dsn)
	status, body = p2.call(t, "GET", "/api/v1/public/tickets/"+id, key.APIKey, nil)
	var got ticketJSON
	_ = json.Unmarshal(body, &got)
	if status != 200 || got.Ticket.Summary.Status != "solved" || len(got.Ticket.Messages) != 1 {
		t.Errorf("after restart: %d %s", status, body)
	}
	if strings.Contains(p.logs.String(), key.APIKey) || strings.Contains(p2.logs.String(), key.APIKey) {
		t.Error("the API key is in the process logs")
	}
}
