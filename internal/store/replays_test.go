package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// TestReplayFilterMatches: a bulk replay's filter picks finished actions by host (port,
// user info and case aside), ticket, automation and status, within the tenant and window.
func TestReplayFilterMatches(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	tenant, other := newTenant(t, s), newTenant(t, s)
	ticket := func(tn string) string {
		d, err := s.CreateTicket(ctx, tn, domain.TicketCreate{Subject: "s", Status: "open", Priority: "normal", Channel: "api"})
		if err != nil {
			t.Fatal(err)
		}
		return d.Ticket.ID
	}
	t1, t2, t3 := ticket(tenant), ticket(tenant), ticket(other)
	add := func(tn, tk, url, by, status string) string {
		a := &domain.Action{ID: domain.NewID(domain.PrefixAction), TenantID: tn, TicketID: tk, Type: domain.ActionTypeCustomHTTP,
			RequestedBy: by, Request: domain.ActionRequest{Method: "POST", URL: url}}
		if err := s.CreateAction(ctx, a); err != nil {
			t.Fatal(err)
		}
		if status != "" {
			if _, err := s.RecordAttempt(ctx, a.ID, domainResult(status)); err != nil {
				t.Fatal(err)
			}
		}
		return a.ID
	}
	add(tenant, t1, "https://Hooks.Example.com/x", "api_key:k", domain.ActionFailed)
	add(tenant, t1, "https://user@hooks.example.com:8443/y?q=1", "automation:aut_x", domain.ActionSucceeded)
	add(tenant, t2, "https://other.example.com/x", "api_key:k", domain.ActionFailed)
	add(tenant, t2, "https://hooks.example.com/z", "api_key:k", "") // still queued
	add(other, t3, "https://hooks.example.com/x", "api_key:k", domain.ActionFailed)

	now := time.Now()
	window := domain.ReplayFilter{Since: now.Add(-time.Hour), Until: now.Add(time.Hour)}
	for _, tc := range []struct {
		name string
		f    func(f *domain.ReplayFilter)
		want int
	}{
		{"all finished", func(*domain.ReplayFilter) {}, 3},
		{"host", func(f *domain.ReplayFilter) { f.Host = "hooks.example.com" }, 2},
		{"host and status", func(f *domain.ReplayFilter) { f.Host, f.Status = "hooks.example.com", domain.ActionFailed }, 1},
		{"ticket", func(f *domain.ReplayFilter) { f.TicketID = t2 }, 1},
		{"automation", func(f *domain.ReplayFilter) { f.AutomationID = "aut_x" }, 1},
		{"window before", func(f *domain.ReplayFilter) { f.Since, f.Until = now.Add(-3*time.Hour), now.Add(-2*time.Hour) }, 0},
	} {
		f := window
		tc.f(&f)
		n, samples, err := s.ReplayMatches(ctx, tenant, f)
		if err != nil || n != tc.want || len(samples) != tc.want {
			t.Errorf("%s: %d matches, %d samples (%v), want %d", tc.name, n, len(samples), err, tc.want)
		}
	}
}

func domainResult(status string) store.AttemptResult {
	return store.AttemptResult{Attempt: 1, Status: status, LastError: "x"}
}
