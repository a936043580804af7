package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

func automationInput(name string) domain.AutomationInput {
	events := []string{domain.EventTicketCreated}
	cond := "true"
	actions := []domain.AutomationAction{{Type: domain.AutomationAddNote, Content: "hello"}}
	return domain.AutomationInput{Name: &name, Events: &events, Condition: &cond, Actions: &actions}
}

// createConcurrently fires n creates per tenant at once and returns, per tenant, the
// positions created and the number refused with ECONFLICT.
func createConcurrently(t *testing.T, s *store.Store, n int, tenants ...string) (map[string][]int, map[string]int) {
	t.Helper()
	var mu sync.Mutex
	positions, refused := map[string][]int{}, map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, tenant := range tenants {
		for i := range n {
			wg.Go(func() {
				<-start
				a, err := s.CreateAutomation(context.Background(), tenant, automationInput(fmt.Sprintf("rule %d", i)))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case domain.ErrorCode(err) == domain.ECONFLICT:
					refused[tenant]++
				case err != nil:
					t.Errorf("create for %s: %v", tenant, err)
				default:
					positions[tenant] = append(positions[tenant], a.Position)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	return positions, refused
}

func TestConcurrentAutomationCreatesGetDensePositions(t *testing.T) {
	s := dbtest.New(t)
	a, b := newTenant(t, s), newTenant(t, s)
	positions, refused := createConcurrently(t, s, 20, a, b)
	for _, tenant := range []string{a, b} {
		got := positions[tenant]
		slices.Sort(got)
		want := make([]int, 20)
		for i := range want {
			want[i] = i
		}
		if !slices.Equal(got, want) || refused[tenant] != 0 {
			t.Errorf("tenant %s: positions %v (refused %d), want 0..19", tenant, got, refused[tenant])
		}
	}
}

func TestConcurrentAutomationCreatesKeepTheCap(t *testing.T) {
	s := dbtest.New(t)
	full, other := newTenant(t, s), newTenant(t, s)
	const room = 5
	// Fill the tenant up to room below the cap in one statement.
	_, err := s.DB().ExecContext(context.Background(), `
		INSERT INTO automations (id, tenant_id, name, enabled, events, condition, actions, position, version, created_at, updated_at)
		SELECT 'aut_' || lpad(g::text, 26, '0'), ?, 'filler', true, '{ticket.created}', 'true',
		       '[{"type":"add_note","content":"x"}]', g, 1, now(), now()
		FROM generate_series(0, ? - 1) g`, full, domain.MaxAutomationsByTenant-room)
	if err != nil {
		t.Fatal(err)
	}
	positions, refused := createConcurrently(t, s, 20, full, other)
	if len(positions[full]) != room || refused[full] != 20-room {
		t.Errorf("near the cap: %d created, %d refused; want %d and %d", len(positions[full]), refused[full], room, 20-room)
	}
	if len(positions[other]) != 20 {
		t.Errorf("another tenant: %d created, want 20", len(positions[other]))
	}
	var n int
	if err := s.DB().NewSelect().Table("automations").Where("tenant_id = ?", full).ColumnExpr("count(*)").Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	if n != domain.MaxAutomationsByTenant {
		t.Errorf("the tenant has %d automations, want the cap %d", n, domain.MaxAutomationsByTenant)
	}
}
