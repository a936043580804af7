// Package temporaltest runs a real Temporal dev server (the pinned Temporal CLI) for the
// tests of a package: started on first use, on free ports, with the project's search
// attributes, and stopped by Main when the package's tests end. StartProduction runs
// Temporal's own server on PostgreSQL instead, the production shape.
package temporaltest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"

	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/fairness"
	"github.com/threada/threada/workflows"
)

// Server is a running dev server or production server.
type Server struct {
	Addr    string // gRPC host:port
	cmd     *exec.Cmd
	logs    bytes.Buffer
	done    chan struct{}
	cleanup func() // after the process ended: the production server's databases
}

var (
	once    sync.Once
	shared  *Server
	initErr error
)

// Main runs the package's tests, then stops the server if one was started. Call it from
// TestMain, around dbtest.Main if both are used: os.Exit(temporaltest.Main(m, run)).
func Main(run func() int) int {
	code := run()
	if shared != nil {
		shared.Stop()
	}
	return code
}

// Shared returns the package's server, starting it on first use.
func Shared(t testing.TB) *Server {
	t.Helper()
	once.Do(func() { shared, initErr = Start() })
	if initErr != nil {
		t.Fatalf("temporaltest: %v", initErr)
	}
	return shared
}

// Binary finds the Temporal CLI: $TEMPORAL_CLI, then .dev/bin/temporal in the module (where
// `make test` installs the pinned version), then PATH.
func Binary() (string, error) {
	if p := os.Getenv("TEMPORAL_CLI"); p != "" {
		return p, nil
	}
	if root, err := moduleRoot(); err == nil {
		p := filepath.Join(root, ".dev", "bin", "temporal")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("the Temporal CLI is not installed: run `make test` (it installs github.com/temporalio/cli v1.5.1 into .dev/bin) or set TEMPORAL_CLI")
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// FairnessOn says whether dev servers start with priority and fairness (internal/fairness),
// as every Threada server does. TEMPORAL_FAIRNESS=off starts them without, to show what the
// fairness tests measure without it (they then fail).
func FairnessOn() bool { return os.Getenv("TEMPORAL_FAIRNESS") != "off" }

// Start starts a dev server and waits until it answers. Its ports are free when picked,
// but another process may bind one first (tests all over the machine pick ports): a server
// that exits for that is started again on other ports, up to three times.
func Start() (*Server, error) { return StartDev(FairnessOn()) }

// StartDev is Start with priority and fairness on or off, for measuring what they do.
func StartDev(fair bool) (*Server, error) {
	for try := 1; ; try++ {
		s, err := start(fair)
		if err == nil || try == 3 || !strings.Contains(err.Error(), "address already in use") {
			return s, err
		}
	}
}

// start is one try of StartDev.
func start(fair bool) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), done: make(chan struct{})}
	args := []string{"server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", strconv.Itoa(port), "--log-level", "error"}
	for _, sa := range contract.SearchAttributeFlags {
		args = append(args, "--search-attribute", sa)
	}
	if fair {
		args = append(args, fairness.DevServerFlags()...)
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = &s.logs, &s.logs
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	if err := s.waitReady(60 * time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("the Temporal dev server exited:\n%s", s.logs.String())
		default:
		}
		c, err := client.Dial(client.Options{HostPort: s.Addr, Logger: quietLogger{}})
		if err == nil {
			_, err = c.CheckHealth(context.Background(), &client.CheckHealthRequest{})
			c.Close()
			if err == nil {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the Temporal dev server did not answer within %v", timeout)
}

// Client returns a client for the default namespace, closed when t ends.
func (s *Server) Client(t testing.TB) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: s.Addr, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// WorkerClient returns a client set up as the worker binary's (eager starts, see
// workflows.EagerStart), for tests that run the worker and start workflows in one process;
// closed when t ends.
func (s *Server) WorkerClient(t testing.TB) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: s.Addr, Logger: quietLogger{},
		Interceptors: []interceptor.ClientInterceptor{&workflows.EagerStart{}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// Stop stops the server and drops what it stored.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	if s.cleanup != nil {
		s.cleanup()
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// quietLogger drops the SDK's logs in tests.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
