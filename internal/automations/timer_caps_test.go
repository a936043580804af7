package automations

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// delayRule stores a delay automation straight into the table, as one from before the cap
// on delay rules would be.
func (f *fixture) delayRule(tenant string, position int) string {
	f.t.Helper()
	id := domain.NewID(domain.PrefixAutomation)
	if _, err := f.store.DB().NewRaw(`INSERT INTO automations (id, tenant_id, name, enabled, events, condition, actions, position, version,
			created_at, updated_at, delay_seconds, rearm)
		VALUES (?, ?, ?, true, '{ticket.updated}', 'true', '[{"type": "add_note", "content": "later"}]', ?, 1, now(), now(), 3600, true)`,
		id, tenant, fmt.Sprintf("later %d", position), position).Exec(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	return id
}

// TestOneEventArmsAtMostTheCap: a tenant with more delay rules than one event may arm (kept
// from before the cap) gets the first domain.MaxTimersPerEvent armed, in evaluation order,
// and a run saying why for each of the rest.
func TestOneEventArmsAtMostTheCap(t *testing.T) {
	f := newFixture(t)
	ids := make([]string, domain.MaxTimersPerEvent+2)
	for i := range ids {
		ids[i] = f.delayRule(f.tenant, i)
	}
	var armed []string
	f.engine.Arm = func(_ context.Context, tm *store.Timer) { armed = append(armed, tm.AutomationID) }
	f.update(domain.TicketUpdate{Priority: ptr("high")})
	f.drain()
	if len(armed) != domain.MaxTimersPerEvent || armed[0] != ids[0] {
		t.Fatalf("armed %d timers, want the first %d", len(armed), domain.MaxTimersPerEvent)
	}
	for i, id := range ids {
		runs := f.runs(id)
		if i < domain.MaxTimersPerEvent {
			if len(runs) != 0 {
				t.Errorf("rule %d armed, yet has runs %+v", i, runs)
			}
			continue
		}
		if len(runs) != 1 || !strings.Contains(runs[0].Error, "one event arms at most 50 timers") {
			t.Errorf("rule %d past the cap: runs %+v", i, runs)
		}
	}
}

// TestArmedTimersPerTenantAreCapped: a tenant at domain.MaxArmedTimersByTenant armed delay
// timers gets no new one (a run says why) but keeps re-arming those it has; another tenant
// is not affected.
func TestArmedTimersPerTenantAreCapped(t *testing.T) {
	f := newFixture(t)
	other := f.newTenant("https://hooks.example.com")
	otherTicket := f.newTicket(other)
	rule, theirs := f.delayRule(f.tenant, 0), f.delayRule(other, 0)
	f.update(domain.TicketUpdate{Priority: ptr("high")}) // arms one before the tenant is full
	f.drain()
	if _, err := f.store.DB().NewRaw(`INSERT INTO ticket_timers (id, tenant_id, ticket_id, kind, due_at, armed_at, event, synced)
		SELECT 'delay:filler:' || n, ?, ?, 'delay', now() + interval '1 day', now(), '{}', true
		FROM generate_series(1, ?) AS n`, f.tenant, f.ticket, domain.MaxArmedTimersByTenant-1).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.engine.armed = armedCounts{} // as if armedRecount had passed
	var armed []*store.Timer
	f.engine.Arm = func(_ context.Context, tm *store.Timer) { armed = append(armed, tm) }

	// The ticket that has a timer re-arms it.
	f.update(domain.TicketUpdate{Priority: ptr("urgent")})
	f.drain()
	if len(armed) != 1 || armed[0].Added || len(f.runs(rule)) != 0 {
		t.Fatalf("re-arm at the cap: armed %+v, runs %+v", armed, f.runs(rule))
	}
	// A new ticket gets none, and a run says why.
	second := f.newTicket(f.tenant)
	if _, err := f.store.UpdateTicket(f.ctx, f.tenant, second, domain.TicketUpdate{Priority: ptr("high")}); err != nil {
		t.Fatal(err)
	}
	f.drain()
	runs := f.runs(rule)
	if len(armed) != 1 || len(runs) != 1 || runs[0].TicketID != second || !strings.Contains(runs[0].Error, "the tenant has 100000 delay timers armed") {
		t.Fatalf("a new timer at the cap: armed %d, runs %+v", len(armed), runs)
	}
	// Another tenant arms as usual.
	if _, err := f.store.UpdateTicket(f.ctx, other, otherTicket, domain.TicketUpdate{Priority: ptr("high")}); err != nil {
		t.Fatal(err)
	}
	f.drain()
	if len(armed) != 2 || armed[1].AutomationID != theirs || !armed[1].Added {
		t.Fatalf("the other tenant's arm: %+v", armed)
	}
}
