package retention_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/retention"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// TestPassesTakeTurns: a pass covers every tenant, and one started while another holds the
// retention lock (another worker's) skips its turn instead of doing the same work twice.
func TestPassesTakeTurns(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	for range 3 {
		if err := s.CreateTenant(ctx, &domain.Tenant{Name: "t"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	k := &retention.Keeper{Store: s, Log: slog.New(slog.DiscardHandler)}
	tot, err := k.Pass(ctx, time.Now())
	if err != nil || tot.Skipped || tot.Tenants != 3 {
		t.Fatalf("pass: %+v %v", tot, err)
	}
	ran, err := s.Exclusively(ctx, func() error {
		tot, err := k.Pass(ctx, time.Now())
		if err != nil || !tot.Skipped || tot.Tenants != 0 {
			t.Errorf("a pass while another runs: %+v %v", tot, err)
		}
		return nil
	})
	if !ran || err != nil {
		t.Fatalf("holding the lock: %v %v", ran, err)
	}
}
