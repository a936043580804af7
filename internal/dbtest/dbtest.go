// Package dbtest gives each test its own throwaway PostgreSQL database, migrated, and drops
// it when the test ends. Databases are cloned from a template migrated once per test
// binary, which keeps a fresh database to a few tens of milliseconds.
//
// The server is TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres);
// the `threada` database is never touched.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"

	"github.com/threada/threada/internal/store"
)

// DefaultURL is the maintenance database tests connect to when TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// Main runs the tests of a package and then drops the template database. Call it from
// TestMain: os.Exit(dbtest.Main(m)).
func Main(m *testing.M) int {
	// Dropping a test's database with (FORCE) ends its LISTEN connections; pgdriver would
	// print each of those expected disconnections.
	pgdriver.Logger = quiet{}
	code := m.Run()
	if templateName != "" {
		if err := dropDatabase(templateName); err != nil {
			fmt.Fprintf(os.Stderr, "dbtest: dropping template %s: %v\n", templateName, err)
		}
	}
	return code
}

// ServerURL returns the maintenance URL of the test server.
func ServerURL() string {
	if v := os.Getenv("TEST_DATABASE_URL"); v != "" {
		return v
	}
	return DefaultURL
}

// URLFor returns the server URL with its database replaced by name.
func URLFor(name string) string {
	u, err := url.Parse(ServerURL())
	if err != nil {
		panic(fmt.Sprintf("dbtest: TEST_DATABASE_URL is not a URL: %v", err))
	}
	u.Path = "/" + name
	return u.String()
}

// NewURL creates a fresh migrated database for t and returns its URL. It is dropped, with
// any connection still open to it, when t ends.
func NewURL(t testing.TB) string {
	t.Helper()
	templateOnce.Do(func() { templateName, templateErr = createTemplate() })
	if templateErr != nil {
		t.Fatalf("dbtest: %v", templateErr)
	}
	name := "threada_test_" + randomSuffix()
	if err := admin(func(s *store.Store) error {
		_, err := s.DB().ExecContext(context.Background(), fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, templateName))
		return err
	}); err != nil {
		t.Fatalf("dbtest: creating database: %v", err)
	}
	t.Cleanup(func() {
		if err := dropDatabase(name); err != nil {
			t.Errorf("dbtest: dropping %s: %v", name, err)
		}
	})
	return URLFor(name)
}

// UnusedURL returns the URL of a database that does not exist yet, for tests of the code
// that creates it; it is dropped when t ends if something created it.
func UnusedURL(t testing.TB) string {
	t.Helper()
	name := "threada_test_" + randomSuffix()
	t.Cleanup(func() {
		if err := dropDatabase(name); err != nil {
			t.Errorf("dbtest: dropping %s: %v", name, err)
		}
	})
	return URLFor(name)
}

// New returns a Store on a fresh migrated database, closed and dropped when t ends.
func New(t testing.TB) *store.Store {
	t.Helper()
	dsn := NewURL(t)
	s, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func createTemplate() (string, error) {
	name := "threada_tpl_" + randomSuffix()
	if err := admin(func(s *store.Store) error {
		_, err := s.DB().ExecContext(context.Background(), "CREATE DATABASE "+name)
		return err
	}); err != nil {
		return "", fmt.Errorf("creating template database (is PostgreSQL running at %s?): %w", redacted(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, URLFor(name), store.Options{MaxOpenConns: 2})
	if err != nil {
		return name, err
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		return name, fmt.Errorf("migrating template: %w", err)
	}
	return name, nil
}

func dropDatabase(name string) error {
	return admin(func(s *store.Store) error {
		_, err := s.DB().ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		return err
	})
}

func admin(fn func(*store.Store) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, ServerURL(), store.Options{MaxOpenConns: 1})
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func redacted() string {
	u, err := url.Parse(ServerURL())
	if err != nil {
		return "TEST_DATABASE_URL"
	}
	return u.Redacted()
}
