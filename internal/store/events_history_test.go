package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// TestRecentEventsPagesMergeTypes: RecentEvents reads one index range per type and merges
// them; paged with its cursor, every page size and set of types gives exactly the tenant's
// events of those types newest first, as one filtered and sorted scan (the oracle) does,
// and never another tenant's.
func TestRecentEventsPagesMergeTypes(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	a, b := newTenant(t, s), newTenant(t, s)
	for _, tenant := range []string{a, b, a} {
		for i := range 4 {
			d, err := s.CreateTicket(ctx, tenant, domain.TicketCreate{Subject: "s", Status: "open", Priority: "normal", Channel: "api"})
			if err != nil {
				t.Fatal(err)
			}
			for j := range i {
				if _, _, err := s.AddMessage(ctx, tenant, d.Ticket.ID, domain.MessageCreate{Role: "user", Content: "m", Channel: "api"}); err != nil {
					t.Fatal(err)
				}
				status := []string{"pending", "open"}[j%2]
				if _, err := s.UpdateTicket(ctx, tenant, d.Ticket.ID, domain.TicketUpdate{Status: &status}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	oracle := func(types []string) []string {
		var ids []string
		if err := s.DB().NewSelect().Table("ticket_events").Column("id").
			Where("tenant_id = ? AND type IN (?)", a, bun.In(types)).
			OrderExpr("occurred_at DESC, id DESC").Scan(ctx, &ids); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	for _, types := range [][]string{
		{domain.EventTicketCreated},
		{domain.EventTicketUpdated, domain.EventMessageCreated},
		{domain.EventMessageCreated, domain.EventTicketCreated, domain.EventTicketUpdated, domain.EventTicketCreated},
		{domain.EventSLABreached},
	} {
		want := oracle(types)
		for _, limit := range []int{1, 3, 7, 100} {
			var got []string
			var after *store.EventCursor
			for page := 0; page < 100; page++ {
				evs, err := s.RecentEvents(ctx, a, types, time.Time{}, after, limit)
				if err != nil {
					t.Fatal(err)
				}
				for _, ev := range evs {
					if ev.TenantID != a || !slices.Contains(types, ev.Type) {
						t.Fatalf("%v: got %s event of %s", types, ev.Type, ev.TenantID)
					}
					got = append(got, ev.ID)
				}
				if len(evs) < limit {
					break
				}
				last := evs[len(evs)-1]
				after = &store.EventCursor{OccurredAt: last.OccurredAt, ID: last.ID}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%v, pages of %d: got %d events %v, want %d %v", types, limit, len(got), got, len(want), want)
			}
		}
	}
}

// TestTagFilterStaysInItsTenant: the tag filter reads the tenant's own "tenant_id:tag" keys;
// the same tag in another tenant, and a tag that spells another tenant's key, match nothing
// there, and the result is the tenant's tagged tickets in list order.
func TestTagFilterStaysInItsTenant(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	a, b := newTenant(t, s), newTenant(t, s)
	var want []string // a's tickets tagged vip, newest first
	for i := range 6 {
		for _, tenant := range []string{a, b} {
			tags := []string{"retail"}
			switch {
			case i%2 == 0:
				tags = append(tags, "vip")
			case tenant == a:
				tags = append(tags, b+":vip") // a tag may hold ':'; it is still a's
			}
			d, err := s.CreateTicket(ctx, tenant, domain.TicketCreate{Subject: "s", Status: "open", Priority: "normal", Channel: "api", Tags: tags})
			if err != nil {
				t.Fatal(err)
			}
			if tenant == a && i%2 == 0 {
				want = append([]string{d.Ticket.ID}, want...)
			}
		}
	}
	ids := func(tenant, tag string) []string {
		got, _, err := s.ListTickets(ctx, tenant, domain.TicketFilter{Tag: tag}, nil, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tk := range got {
			if tk.TenantID != tenant {
				t.Fatalf("%s's filter returned %s's ticket", tenant, tk.TenantID)
			}
			out = append(out, tk.ID)
		}
		return out
	}
	if got := ids(a, "vip"); !slices.Equal(got, want) {
		t.Errorf("a's vip: %v, want %v", got, want)
	}
	if got := ids(b, "vip"); len(got) != 3 {
		t.Errorf("b's vip: %d tickets, want 3", len(got))
	}
	if got := ids(a, b+":vip"); len(got) != 3 {
		t.Errorf("a's %q: %d tickets, want 3", b+":vip", len(got))
	}
	if got := ids(b, a+":vip"); len(got) != 0 {
		t.Errorf("b's %q: %v, want none", a+":vip", got)
	}
}
