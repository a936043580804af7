package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
	"github.com/uptrace/bun/migrate"

	"github.com/threada/threada/migrations"
)

// migrationLockID is the advisory lock that serialises concurrent `api migrate` runs.
const migrationLockID = 7_270_001

// MigrationState is one migration and whether it is applied.
type MigrationState struct {
	Name      string
	Applied   bool
	AppliedAt time.Time
}

// EnsureDatabase creates the database named in dsn if it does not exist, connecting to the
// server's "postgres" database to do it. Safe to run concurrently.
func EnsureDatabase(ctx context.Context, dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return fmt.Errorf("DATABASE_URL is not a valid URL")
	}
	name := strings.Trim(u.Path, "/")
	admin := *u
	admin.Path = "/postgres"
	s, err := Open(ctx, admin.String(), Options{MaxOpenConns: 1})
	if err != nil {
		return err
	}
	defer s.Close()
	var exists bool
	if err := s.db.NewRaw("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = ?)", name).Scan(ctx, &exists); err != nil {
		return fmt.Errorf("checking for database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = s.db.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(name))
	var pgErr pgdriver.Error
	if errors.As(err, &pgErr) && (pgErr.Field('C') == "42P04" || pgErr.Field('C') == "23505") {
		return nil // created meanwhile by a concurrent run
	}
	if err != nil {
		return fmt.Errorf("creating database %q: %w", name, err)
	}
	return nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Migrate applies pending migrations and returns their names. Concurrent runs wait for
// each other, so running it twice or in parallel is safe.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	var names []string
	err := s.withMigrator(ctx, func(m *migrate.Migrator) error {
		group, err := m.Migrate(ctx)
		if group != nil {
			for _, mig := range group.Migrations {
				names = append(names, mig.Name)
			}
		}
		return err
	})
	return names, err
}

// Rollback reverts the last group of applied migrations and returns their names.
func (s *Store) Rollback(ctx context.Context) ([]string, error) {
	var names []string
	err := s.withMigrator(ctx, func(m *migrate.Migrator) error {
		group, err := m.Rollback(ctx)
		if group != nil {
			for _, mig := range group.Migrations {
				names = append(names, mig.Name)
			}
		}
		return err
	})
	return names, err
}

// MigrationStatus lists every migration with whether it is applied.
func (s *Store) MigrationStatus(ctx context.Context) ([]MigrationState, error) {
	var states []MigrationState
	err := s.withMigrator(ctx, func(m *migrate.Migrator) error {
		ms, err := m.MigrationsWithStatus(ctx)
		for _, mig := range ms {
			states = append(states, MigrationState{Name: mig.Name + "_" + mig.Comment, Applied: mig.IsApplied(), AppliedAt: mig.MigratedAt})
		}
		return err
	})
	return states, err
}

// withMigrator runs fn holding a session advisory lock on a dedicated connection.
func (s *Store) withMigrator(ctx context.Context, fn func(*migrate.Migrator) error) error {
	ms, err := migrations.New()
	if err != nil {
		return err
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", migrationLockID); err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", migrationLockID) //nolint:errcheck // closing the session releases it too
	m := migrate.NewMigrator(s.db, ms, migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("creating the migration tables: %w", err)
	}
	return fn(m)
}
