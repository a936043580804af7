package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// TestRecordAttemptIsIdempotent: the workflow may record an attempt more than once (it
// retries until PostgreSQL answers) and late; an attempt already held, an older attempt
// and anything after the end change nothing, and say so.
func TestRecordAttemptIsIdempotent(t *testing.T) {
	ctx := context.Background()
	next := time.Now().Add(time.Minute).UTC().Truncate(time.Microsecond)
	retrying := func(n int) store.AttemptResult {
		return store.AttemptResult{Attempt: n, Status: domain.ActionRetrying, LastError: "POST x: 503 Service Unavailable",
			Response: &domain.ActionResponse{StatusCode: 503}, NextAttemptAt: &next}
	}
	succeeded := func(n int) store.AttemptResult {
		return store.AttemptResult{Attempt: n, Status: domain.ActionSucceeded, Response: &domain.ActionResponse{StatusCode: 200, Body: "ok"}}
	}
	canceled := store.AttemptResult{Status: domain.ActionCanceled, LastError: "canceled"}

	type step struct {
		rec     store.AttemptResult
		applied bool
	}
	for _, tc := range []struct {
		name         string
		steps        []step
		wantStatus   string
		wantAttempts int
	}{
		{"in order", []step{{retrying(1), true}, {retrying(2), true}, {succeeded(3), true}}, domain.ActionSucceeded, 3},
		{"the same attempt twice", []step{{retrying(1), true}, {retrying(1), false}}, domain.ActionRetrying, 1},
		{"the same success twice", []step{{succeeded(1), true}, {succeeded(1), false}}, domain.ActionSucceeded, 1},
		{"an older attempt after a newer", []step{{retrying(2), true}, {retrying(1), false}}, domain.ActionRetrying, 2},
		{"an older attempt after the end", []step{{succeeded(2), true}, {retrying(1), false}}, domain.ActionSucceeded, 2},
		{"an attempt after a cancel", []step{{retrying(1), true}, {canceled, true}, {succeeded(2), false}}, domain.ActionCanceled, 1},
		{"a cancel after the end", []step{{succeeded(1), true}, {canceled, false}}, domain.ActionSucceeded, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := dbtest.New(t)
			tenant := newTenant(t, s)
			d, err := s.CreateTicket(ctx, tenant, domain.TicketCreate{Subject: "s", Status: "open", Priority: "normal", Channel: "api"})
			if err != nil {
				t.Fatal(err)
			}
			a := &domain.Action{ID: domain.NewID(domain.PrefixAction), TenantID: tenant, TicketID: d.Ticket.ID, Type: domain.ActionTypeCustomHTTP, RequestedBy: "x"}
			if err := s.CreateAction(ctx, a); err != nil {
				t.Fatal(err)
			}
			var last *domain.Action
			for i, st := range tc.steps {
				applied, err := s.RecordAttempt(ctx, a.ID, st.rec)
				if err != nil || applied != st.applied {
					t.Fatalf("step %d: applied %v (%v), want %v", i+1, applied, err, st.applied)
				}
				got, err := s.ActionByID(ctx, a.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !applied && !got.UpdatedAt.Equal(last.UpdatedAt) {
					t.Errorf("step %d changed the action", i+1)
				}
				last = got
			}
			if last.Status != tc.wantStatus || last.Attempts != tc.wantAttempts {
				t.Errorf("%s after %d attempts, want %s after %d", last.Status, last.Attempts, tc.wantStatus, tc.wantAttempts)
			}
		})
	}
}

// TestCreateActionStaysWithinTheTenant: an action for another tenant's ticket (or none) is
// ENOTFOUND and stores nothing; the insert's foreign key is the check.
func TestCreateActionStaysWithinTheTenant(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	a, b := newTenant(t, s), newTenant(t, s)
	d, err := s.CreateTicket(ctx, b, domain.TicketCreate{Subject: "B's", Status: "open", Priority: "normal", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ticket := range []string{d.Ticket.ID, "tkt_missing"} {
		act := &domain.Action{ID: domain.NewID(domain.PrefixAction), TenantID: a, TicketID: ticket, Type: domain.ActionTypeCustomHTTP, RequestedBy: "api_key:x"}
		if err := s.CreateAction(ctx, act); domain.ErrorCode(err) != domain.ENOTFOUND {
			t.Errorf("ticket %s: %v, want not found", ticket, err)
		}
		if _, err := s.ActionByID(ctx, act.ID); domain.ErrorCode(err) != domain.ENOTFOUND {
			t.Errorf("ticket %s: the action was stored (%v)", ticket, err)
		}
	}
}
