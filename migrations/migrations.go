// Package migrations holds the SQL schema as bun/migrate files, embedded in the binaries.
// Files are named YYYYMMDDHHMMSS_name.tx.up.sql / .tx.down.sql and run in a transaction.
package migrations

import (
	"embed"

	"github.com/uptrace/bun/migrate"
)

//go:embed *.sql
var files embed.FS

// New returns the project's migrations.
func New() (*migrate.Migrations, error) {
	m := migrate.NewMigrations()
	if err := m.Discover(files); err != nil {
		return nil, err
	}
	return m, nil
}
