package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// backlog gives each tenant n items for a relay: unstarted queued actions, or unsynced
// delay timers, made oldest first per tenant.
func backlog(t *testing.T, s *store.Store, kind string, perTenant map[string]int) {
	t.Helper()
	ctx := context.Background()
	for tenant, n := range perTenant {
		d, err := s.CreateTicket(ctx, tenant, domain.TicketCreate{Subject: "s", Status: "open", Priority: "normal", Channel: "api"})
		if err != nil {
			t.Fatal(err)
		}
		q := `INSERT INTO actions (id, tenant_id, ticket_id, action_type, status, requested_by, payload, request, created_at, updated_at)
			SELECT 'act_' || ? || lpad(n::text, 8, '0'), ?, ?, 'custom_http', 'queued', 'x', '{}', '{}',
				now() - interval '1 hour' + n * interval '1 ms', now() FROM generate_series(1, ?) AS n`
		if kind == "timers" {
			q = `INSERT INTO ticket_timers (id, tenant_id, ticket_id, kind, due_at, armed_at, event)
			SELECT 'delay:' || ? || lpad(n::text, 8, '0'), ?, ?, 'delay', now() + interval '1 hour',
				now() - interval '1 hour' + n * interval '1 ms', '{}' FROM generate_series(1, ?) AS n`
		}
		if _, err := s.DB().NewRaw(q, tenant, tenant, d.Ticket.ID, n).Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRelaysTakeTenantsInTurn: a relay round over one tenant's backlog of 500 and another's
// 3 (all older than the round's minimum age, the heavy tenant's oldest first) takes the
// light tenant's three within its first six, and the heavy one's in age order.
func TestRelaysTakeTenantsInTurn(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"actions", "timers"} {
		t.Run(kind, func(t *testing.T) {
			s := dbtest.New(t)
			heavy, light := newTenant(t, s), newTenant(t, s)
			backlog(t, s, kind, map[string]int{heavy: 500})
			backlog(t, s, kind, map[string]int{light: 3})
			var got []string
			round := func(tenant, id string) error {
				got = append(got, fmt.Sprintf("%s %s", map[string]string{heavy: "heavy", light: "light"}[tenant], id))
				return nil
			}
			var n int
			var err error
			if kind == "actions" {
				n, err = s.StartUnstarted(ctx, time.Second, 10, func(_ context.Context, a *domain.Action) error { return round(a.TenantID, a.ID) })
			} else {
				n, err = s.SyncTimers(ctx, time.Second, 10, func(_ context.Context, tm *store.Timer) error { return round(tm.TenantID, tm.ID) })
			}
			if err != nil || n != 10 {
				t.Fatalf("round: %d, %v", n, err)
			}
			lights, lastHeavy := 0, ""
			for i, g := range got {
				var who, id string
				fmt.Sscan(g, &who, &id)
				if who == "light" {
					lights++
					if i >= 6 {
						t.Errorf("the light tenant's item came %dth: %v", i+1, got)
					}
				} else if id < lastHeavy {
					t.Errorf("the heavy tenant's items out of order: %v", got)
				} else {
					lastHeavy = id
				}
			}
			if lights != 3 {
				t.Errorf("the round took %d of the light tenant's 3: %v", lights, got)
			}
		})
	}
}

// TestArmDelayCountsWhatItAdds: an arm says whether it added a timer; at the cap only an
// armed timer is re-armed; the count stops at its limit.
func TestArmDelayCountsWhatItAdds(t *testing.T) {
	ctx := context.Background()
	s := dbtest.New(t)
	tenant := newTenant(t, s)
	d, err := s.CreateTicket(ctx, tenant, domain.TicketCreate{Subject: "s", Status: "open", Priority: "normal", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	name, events, cond := "later", []string{domain.EventTicketUpdated}, "true"
	delay, actions := time.Hour, []domain.AutomationAction{{Type: domain.AutomationAddNote, Content: "x"}}
	a, err := s.CreateAutomation(ctx, tenant, domain.AutomationInput{Name: &name, Events: &events, Condition: &cond, Actions: &actions, Delay: &delay})
	if err != nil {
		t.Fatal(err)
	}
	ev := func(typ string) *domain.TicketEvent {
		return &domain.TicketEvent{ID: domain.NewID(domain.PrefixEvent), TenantID: tenant, TicketID: d.Ticket.ID, Type: typ, OccurredAt: time.Now()}
	}
	if tm, err := s.RearmDelay(ctx, a, ev(domain.EventTicketUpdated)); err != nil || tm != nil {
		t.Fatalf("re-arm with none armed: %+v, %v", tm, err)
	}
	first, err := s.ArmDelay(ctx, a, ev(domain.EventTicketUpdated))
	if err != nil || first == nil || !first.Added {
		t.Fatalf("first arm: %+v, %v", first, err)
	}
	again, err := s.ArmDelay(ctx, a, ev(domain.EventTicketUpdated))
	if err != nil || again == nil || again.Added || again.Generation <= first.Generation {
		t.Fatalf("re-arm: %+v, %v", again, err)
	}
	capped, err := s.RearmDelay(ctx, a, ev(domain.EventTicketUpdated))
	if err != nil || capped == nil || capped.Added || capped.Generation <= again.Generation {
		t.Fatalf("re-arm at the cap: %+v, %v", capped, err)
	}
	if armed, err := s.TimerArmed(ctx, first.ID); err != nil || !armed {
		t.Fatalf("armed: %v, %v", armed, err)
	}
	backlog(t, s, "timers", map[string]int{tenant: 30})
	for _, tc := range []struct{ limit, want int }{{10, 10}, {31, 31}, {100, 31}} {
		if n, err := s.CountDelayTimers(ctx, tenant, tc.limit); err != nil || n != tc.want {
			t.Errorf("count up to %d: %d, %v; want %d", tc.limit, n, err, tc.want)
		}
	}
	if n, err := s.CountDelayTimers(ctx, newTenant(t, s), 100); err != nil || n != 0 {
		t.Errorf("another tenant's count: %d, %v", n, err)
	}
}

// TestDelayAutomationsAreCapped: a tenant has at most domain.MaxDelayAutomationsByTenant
// automations with a delay, whether created with one or given one later; another tenant is
// not affected, and a delay removed frees a place.
func TestDelayAutomationsAreCapped(t *testing.T) {
	ctx := context.Background()
	s := dbtest.New(t)
	tenant, other := newTenant(t, s), newTenant(t, s)
	events, cond := []string{domain.EventTicketUpdated}, "true"
	delay, actions := time.Hour, []domain.AutomationAction{{Type: domain.AutomationAddNote, Content: "x"}}
	create := func(tenant string, d *time.Duration) (*domain.Automation, error) {
		name := domain.NewID("n")
		return s.CreateAutomation(ctx, tenant, domain.AutomationInput{Name: &name, Events: &events, Condition: &cond, Actions: &actions, Delay: d})
	}
	var first *domain.Automation
	for i := range domain.MaxDelayAutomationsByTenant {
		a, err := create(tenant, &delay)
		if err != nil {
			t.Fatalf("delay automation %d: %v", i+1, err)
		}
		if first == nil {
			first = a
		}
	}
	if _, err := create(tenant, &delay); domain.ErrorCode(err) != domain.ECONFLICT {
		t.Fatalf("one more: %v, want a conflict", err)
	}
	plain, err := create(tenant, nil)
	if err != nil {
		t.Fatalf("one without a delay: %v", err)
	}
	if _, err := s.UpdateAutomation(ctx, tenant, plain.ID, domain.AutomationInput{Delay: &delay}); domain.ErrorCode(err) != domain.ECONFLICT {
		t.Fatalf("giving it a delay: %v, want a conflict", err)
	}
	if _, err := s.UpdateAutomation(ctx, tenant, first.ID, domain.AutomationInput{Delay: &delay, Events: &events}); err != nil {
		t.Fatalf("changing one that has a delay: %v", err)
	}
	if _, err := create(other, &delay); err != nil {
		t.Fatalf("another tenant: %v", err)
	}
	if _, err := s.UpdateAutomation(ctx, tenant, first.ID, domain.AutomationInput{ClearDelay: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateAutomation(ctx, tenant, plain.ID, domain.AutomationInput{Delay: &delay}); err != nil {
		t.Fatalf("after a delay was removed: %v", err)
	}
}
