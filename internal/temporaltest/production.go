package temporaltest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
)

// ErrNoServerBinary is returned by StartProduction when the Temporal server could not be
// built; tests that need it skip on it.
var ErrNoServerBinary = errors.New("the Temporal server binary could not be built")

// ProductionVersion is the Temporal server scripts/temporal-server.sh installs.
const ProductionVersion = "v1.29.1"

// ProductionShards is the number of history shards StartProduction's server has.
const ProductionShards = 4

// StartProduction starts Temporal's own server (scripts/temporal-server.sh: the pinned
// server on PostgreSQL, every service in one process, ProductionShards history shards) on
// two throwaway databases of the PostgreSQL server that dsn points at, and returns once
// namespace default and the project's search attributes can be used. Stop kills it and
// drops the databases. The first call builds the server (minutes); when that fails the
// error wraps ErrNoServerBinary.
func StartProduction(dsn string) (*Server, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	script := filepath.Join(root, "scripts", "temporal-server.sh")
	bin, err := productionBinary(script)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("the database URL is not a URL: %v", err)
	}
	password, _ := u.User.Password()
	pg := &url.URL{Scheme: "postgres", Host: u.Host}
	if u.User != nil {
		pg.User = url.User(u.User.Username())
	}
	state, err := os.MkdirTemp("", "threada-temporal-server")
	if err != nil {
		return nil, err
	}
	prefix := "threada_ts_" + randomSuffix()
	dbs := []string{prefix + "_temporal", prefix + "_visibility"}
	s := &Server{done: make(chan struct{})}
	s.cleanup = func() {
		for _, name := range dbs {
			if err := dropDatabase(dsn, name); err != nil {
				fmt.Fprintf(os.Stderr, "temporaltest: dropping %s: %v\n", name, err)
			}
		}
		_ = os.RemoveAll(state)
	}
	args := []string{"--pg-url", pg.String(), "--db", dbs[0], "--visibility-db", dbs[1], "--state", state,
		"--port", "0", "--shards", fmt.Sprint(ProductionShards)}
	script1 := func(cmd string) (string, error) {
		c := exec.Command(script, append([]string{cmd}, args...)...)
		c.Env = append(os.Environ(), "TEMPORAL_PG_PASSWORD="+password)
		var stderr bytes.Buffer
		c.Stderr = &stderr
		out, err := c.Output()
		if err != nil {
			return "", fmt.Errorf("temporal-server.sh %s: %v\n%s", cmd, err, stderr.String())
		}
		return strings.TrimSpace(string(out)), nil
	}
	fail := func(err error) (*Server, error) {
		if s.cmd != nil {
			s.Stop()
		} else {
			s.cleanup()
		}
		return nil, err
	}
	if _, err := script1("setup"); err != nil {
		return fail(err)
	}
	if s.Addr, err = script1("config"); err != nil {
		return fail(err)
	}
	s.cmd = exec.Command(bin, "--root", state, "--config", "config", "--env", "threada", "--allow-no-auth",
		"start", "--service", "frontend", "--service", "history", "--service", "matching", "--service", "worker")
	s.cmd.Env = append(os.Environ(), "TEMPORAL_PG_PASSWORD="+password)
	s.cmd.Stdout, s.cmd.Stderr = &s.logs, &s.logs
	// The server never outlives the test binary, even one that is killed.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		s.cmd = nil
		return fail(fmt.Errorf("starting %s: %w", bin, err))
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	if err := os.WriteFile(filepath.Join(state, "server.pid"), fmt.Appendf(nil, "%d\n", s.cmd.Process.Pid), 0o644); err != nil {
		return fail(err)
	}
	if _, err := script1("register"); err != nil {
		return fail(fmt.Errorf("%v\nserver log:\n%s", err, s.logs.String()))
	}
	return s, nil
}

// productionBinary installs the pinned server through the script (nothing to do when it
// is there) and returns its path; $TEMPORAL_SERVER overrides it.
func productionBinary(script string) (string, error) {
	if p := os.Getenv("TEMPORAL_SERVER"); p != "" {
		return p, nil
	}
	c := exec.Command(script, "install")
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return "", fmt.Errorf("%w: scripts/temporal-server.sh install: %v\n%s", ErrNoServerBinary, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

func dropDatabase(dsn, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(dsn)))
	defer db.Close()
	_, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	return err
}

func randomSuffix() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
