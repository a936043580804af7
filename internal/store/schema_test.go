package store_test

import (
	"context"
	"testing"

	"github.com/threada/threada/internal/dbtest"
)

// TestEveryForeignKeyHasAnIndex: deleting a referenced row makes PostgreSQL look for the
// rows that reference it; without an index led by one of the foreign key's columns (whole,
// or partial on that column being set) each such look reads the whole referencing table.
// Deletions (tickets, retention, offboarding) run in batches and would take minutes.
func TestEveryForeignKeyHasAnIndex(t *testing.T) {
	s := dbtest.New(t)
	var missing []string
	err := s.DB().NewRaw(`
		SELECT c.conname FROM pg_constraint c
		WHERE c.contype = 'f' AND NOT EXISTS (
			SELECT 1 FROM pg_index i
			JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = (i.indkey::int2[])[0]
			WHERE i.indrelid = c.conrelid AND a.attnum = ANY (c.conkey)
			  AND (i.indpred IS NULL OR pg_get_expr(i.indpred, i.indrelid) = '(' || a.attname || ' IS NOT NULL)'))
		ORDER BY 1`).Scan(context.Background(), &missing)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Errorf("foreign keys without an index on their referencing columns: %v", missing)
	}
}
