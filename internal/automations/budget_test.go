package automations

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// overBudget compiles, but always runs past the rule budget (its list elements), at once.
const overBudget = `len(1..20000) > 0`

// TestBudgetFailuresDisableAutomation: a rule past its budget gets the budget error in its
// run while the event's other rules still run; after MaxBudgetFailures in a row it is
// disabled, with its reason and an audit event, and stops being evaluated.
func TestBudgetFailuresDisableAutomation(t *testing.T) {
	f := newFixture(t)
	costly := f.automation(f.tenant, "costly", overBudget, []string{domain.EventTicketUpdated}, tags("never"))
	cheap := f.automation(f.tenant, "cheap", `true`, []string{domain.EventTicketUpdated}, tags("seen"))
	for i := range MaxBudgetFailures {
		f.update(domain.TicketUpdate{Subject: ptr(fmt.Sprintf("change %d", i))})
		f.drain()
	}
	runs := f.runs(costly)
	if len(runs) != MaxBudgetFailures {
		t.Fatalf("%d runs of the costly rule", len(runs))
	}
	for _, r := range runs {
		if !strings.Contains(r.Error, "rule exceeded its evaluation budget") || r.Matched {
			t.Errorf("run %+v", r)
		}
	}
	for _, r := range f.runs(cheap) {
		if r.Error != "" {
			t.Errorf("the cheap rule failed: %+v", r)
		}
	}
	if tk := f.get(f.tenant, f.ticket); !slices.Contains(tk.Tags, "seen") || slices.Contains(tk.Tags, "never") {
		t.Errorf("tags %v", tk.Tags)
	}
	a, err := f.store.GetAutomation(context.Background(), f.tenant, costly)
	if err != nil {
		t.Fatal(err)
	}
	if a.Enabled || !strings.Contains(a.DisabledReason, "exceeded the rule evaluation budget") {
		t.Errorf("automation enabled %v, reason %q", a.Enabled, a.DisabledReason)
	}
	audit, _, err := f.store.ListAudit(context.Background(), f.tenant, store.AuditFilter{Action: "automation.auto_disabled"}, nil, 10)
	if err != nil || len(audit) != 1 || audit[0].Target != costly {
		t.Fatalf("audit %+v (%v)", audit, err)
	}
	f.update(domain.TicketUpdate{Subject: ptr("after disabling")})
	f.drain()
	if len(f.runs(costly)) != MaxBudgetFailures {
		t.Error("a disabled automation was evaluated")
	}
	// Enabling it again clears the reason and starts a fresh count.
	on := true
	a, err = f.store.UpdateAutomation(context.Background(), f.tenant, costly, domain.AutomationInput{Enabled: &on})
	if err != nil || !a.Enabled || a.DisabledReason != "" {
		t.Fatalf("re-enabled %+v (%v)", a, err)
	}
}

// TestBudgetFailureCountResets: only failures in a row count.
func TestBudgetFailureCountResets(t *testing.T) {
	f := newFixture(t)
	// Past the budget only while the ticket is urgent.
	id := f.automation(f.tenant, "sometimes", `ticket.priority == "urgent" && `+overBudget, []string{domain.EventTicketUpdated}, tags("x"))
	for i := range 2 * MaxBudgetFailures {
		p := "urgent"
		if i%MaxBudgetFailures == MaxBudgetFailures-1 {
			p = "low"
		}
		f.update(domain.TicketUpdate{Priority: &p, Subject: ptr(fmt.Sprint(i))})
		f.drain()
	}
	a, err := f.store.GetAutomation(context.Background(), f.tenant, id)
	if err != nil || !a.Enabled {
		t.Fatalf("disabled although its failures were never %d in a row: %+v (%v)", MaxBudgetFailures, a, err)
	}
}

// TestCrashCountsAsAttempt: a worker that dies while evaluating an event (the claim is
// committed before evaluation) used up an attempt; after MaxEventAttempts the event is set
// aside, dead, and the run history says so. The queue moves on to the next event.
func TestCrashCountsAsAttempt(t *testing.T) {
	f := newFixture(t)
	id := f.automation(f.tenant, "tag", `true`, []string{domain.EventTicketUpdated}, tags("seen"))
	f.update(domain.TicketUpdate{Subject: ptr("poison")})
	crash := func(context.Context, *store.Conn, *domain.TicketEvent) ([]domain.AutomationRun, error) {
		panic("the worker dies")
	}
	for i := range store.MaxEventAttempts {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("attempt %d: no event was handed to the handler", i+1)
				}
			}()
			_, _ = f.store.ProcessNextEvent(context.Background(), crash)
		}()
		f.expireClaims()
	}
	// The next claim finds the attempts used up and sets the event aside without running it.
	tenant, err := f.store.ProcessNextEvent(context.Background(), crash)
	if err != nil || tenant != f.tenant {
		t.Fatalf("tenant %q, err %v", tenant, err)
	}
	var ev struct {
		Dead      bool   `bun:"dead"`
		Attempts  int    `bun:"attempts"`
		LastError string `bun:"last_error"`
	}
	if err := f.store.DB().NewSelect().Table("ticket_events").Column("dead", "attempts", "last_error").
		Where("ticket_id = ? AND processed_at IS NOT NULL", f.ticket).OrderExpr("occurred_at DESC").Limit(1).Scan(context.Background(), &ev); err != nil {
		t.Fatal(err)
	}
	if !ev.Dead || ev.Attempts != store.MaxEventAttempts+1 || !strings.Contains(ev.LastError, "set aside after") {
		t.Errorf("event %+v", ev)
	}
	runs := f.runs(id)
	if len(runs) != 1 || !strings.Contains(runs[0].Error, "event set aside after") {
		t.Fatalf("runs %+v", runs)
	}
	// The queue moves on: the ticket's next event runs.
	f.update(domain.TicketUpdate{Subject: ptr("fine")})
	f.drain()
	if tk := f.get(f.tenant, f.ticket); !slices.Contains(tk.Tags, "seen") {
		t.Errorf("the next event did not run: tags %v", tk.Tags)
	}
}

// TestFailingEventSetAside: an event whose handling keeps failing is set aside after
// MaxEventAttempts, not retried forever.
func TestFailingEventSetAside(t *testing.T) {
	f := newFixture(t)
	f.automation(f.tenant, "any", `true`, []string{domain.EventTicketUpdated}, tags("seen"))
	f.update(domain.TicketUpdate{Subject: ptr("fails")})
	fail := func(context.Context, *store.Conn, *domain.TicketEvent) ([]domain.AutomationRun, error) {
		return nil, fmt.Errorf("storage is down")
	}
	for range store.MaxEventAttempts {
		f.expireClaims()
		if _, err := f.store.ProcessNextEvent(context.Background(), fail); err == nil {
			t.Fatal("no error")
		}
	}
	if n, err := f.store.PendingEvents(context.Background()); err != nil || n != 0 {
		t.Fatalf("%d events still pending (%v)", n, err)
	}
}

// TestTicketEventsInOrderOneAtATime: while a ticket's event is claimed, its later events
// are not handed out (to this or another worker); other tickets' events are.
func TestTicketEventsInOrderOneAtATime(t *testing.T) {
	f := newFixture(t)
	other := f.newTicket(f.tenant)
	f.automation(f.tenant, "any", `true`, []string{domain.EventTicketUpdated}, tags("seen"))
	f.update(domain.TicketUpdate{Subject: ptr("first")})
	f.update(domain.TicketUpdate{Subject: ptr("second")})
	if _, err := f.store.UpdateTicket(f.ctx, f.tenant, other, domain.TicketUpdate{Subject: ptr("other")}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	hold := func(_ context.Context, _ *store.Conn, ev *domain.TicketEvent) ([]domain.AutomationRun, error) {
		seen = append(seen, ev.TicketID+":"+ev.Ticket.Subject)
		// A second worker, meanwhile, gets the other ticket's event, never this ticket's second.
		_, err := f.store.ProcessNextEvent(context.Background(), func(_ context.Context, _ *store.Conn, ev *domain.TicketEvent) ([]domain.AutomationRun, error) {
			seen = append(seen, ev.TicketID+":"+ev.Ticket.Subject)
			return nil, nil
		})
		return nil, err
	}
	if _, err := f.store.ProcessNextEvent(context.Background(), hold); err != nil {
		t.Fatal(err)
	}
	f.drain()
	want := []string{f.ticket + ":first", other + ":other"}
	if !slices.Equal(seen, want) {
		t.Fatalf("order %v, want %v", seen, want)
	}
	if tk := f.get(f.tenant, f.ticket); tk.Subject != "second" {
		t.Errorf("subject %q", tk.Subject)
	}
}

// TestTenantsTakeTurns: tenant A's worst allowed rule on a backlog of events does not hold
// up tenant B: each of B's changes fires B's set_fields rule while A's backlog still waits.
// make bench reports the latency against its 1 s aim; in the suite, which shares the
// machine with everything else (the race detector included), the bound is 3 s, still far
// below what waiting out A's backlog would take.
func TestTenantsTakeTurns(t *testing.T) {
	if testing.Short() {
		t.Skip("fairness needs a backlog")
	}
	// make bench (THREADA_BENCH=1, no race detector) runs the worst allowed rule, 36,000 of
	// the 50,000 steps, with more samples and a backlog that lasts through them; the suite a
	// lighter one that stays within the budget under the race detector, with a backlog the
	// batched worker cannot finish before the samples are taken.
	slow, samples, backlog := `none(1..2000, {# < 0})`, 10, 800
	if os.Getenv("THREADA_BENCH") != "" {
		slow, samples, backlog = `none(1..9000, {# < 0})`, 100, 2000
	}
	f := newFixture(t)
	tenantB := f.newTenant("https://hooks.example.com")
	ticketB := f.newTicket(tenantB)
	f.automation(f.tenant, "slow", slow, []string{domain.EventTicketCreated, domain.EventTicketUpdated}, tags("slow"))
	f.automation(tenantB, "fast", `true`, []string{domain.EventTicketUpdated}, domain.AutomationAction{Type: domain.AutomationSetFields, Status: ptr("pending")})
	for range backlog {
		in := domain.TicketCreate{Subject: "backlog"}
		if err := in.Normalize(); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.CreateTicket(f.ctx, f.tenant, in); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.engine.Run(ctx)

	var latencies []time.Duration
	for i := range samples {
		open := "open"
		start := time.Now()
		if _, err := f.store.UpdateTicket(f.ctx, tenantB, ticketB, domain.TicketUpdate{Status: &open, Subject: ptr(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
		for f.get(tenantB, ticketB).Status != "pending" {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("change %d: B's rule did not fire in 10 s", i)
			}
			time.Sleep(2 * time.Millisecond)
		}
		latencies = append(latencies, time.Since(start))
	}
	pending, err := f.store.PendingEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(latencies)
	p50, p99 := latencies[len(latencies)/2], latencies[(len(latencies)*99-1)/100]
	t.Logf("tenant B's rule latency while A works through its backlog: p50 %s, p99 %s (%d changes); A's events still pending: %d",
		p50.Round(time.Microsecond), p99.Round(time.Microsecond), samples, pending)
	if pending == 0 {
		t.Error("A's backlog was gone before B's changes were measured")
	}
	limit := 3 * time.Second
	if os.Getenv("THREADA_BENCH") != "" {
		limit = time.Second
	}
	if p99 > limit {
		t.Errorf("B waited %s (p99) behind A's backlog", p99)
	}
}

// TestEventBudgetIsNotTheRulesFault: when a tenant's rules together use up the event's
// budget, the rest get the event budget error in their runs but are never disabled for it.
func TestEventBudgetIsNotTheRulesFault(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for i := range 60 { // each about 4,000 steps: 50 fit in the event's 200,000
		ids = append(ids, f.automation(f.tenant, fmt.Sprint("heavy ", i), `none(1..1000, {# < 0})`, []string{domain.EventTicketUpdated}, tags("heavy")))
	}
	for i := range MaxBudgetFailures + 1 {
		f.update(domain.TicketUpdate{Subject: ptr(fmt.Sprint("change ", i))})
		f.drain()
	}
	stopped := 0
	for _, id := range ids {
		a, err := f.store.GetAutomation(context.Background(), f.tenant, id)
		if err != nil || !a.Enabled {
			t.Fatalf("automation %s disabled (%v)", id, err)
		}
		for _, r := range f.runs(id) {
			switch {
			case strings.Contains(r.Error, "the event's rules together exceeded their evaluation budget"):
				stopped++
			case strings.Contains(r.Error, "(wall clock)"):
				// the race detector on a loaded machine: recorded, and not counted either
			case r.Error != "":
				t.Errorf("run error %q", r.Error)
			}
		}
	}
	if stopped == 0 {
		t.Error("no rule was stopped by the event's budget")
	}
}

// TestClaimBatchesTakeTenantsInTurn: a batch holds each tenant's oldest eligible event,
// then each tenant's second, one event per ticket; events no automation wants are marked
// processed in the claim itself and never evaluated.
func TestClaimBatchesTakeTenantsInTurn(t *testing.T) {
	f := newFixture(t)
	tenantB := f.newTenant("https://hooks.example.com")
	quiet := f.newTenant("https://hooks.example.com") // no automations
	f.automation(f.tenant, "a", `true`, []string{domain.EventTicketCreated}, tags("a"))
	f.automation(tenantB, "b", `true`, []string{domain.EventTicketCreated}, tags("b"))
	create := func(tenant string, n int) {
		for range n {
			in := domain.TicketCreate{Subject: "s"}
			if err := in.Normalize(); err != nil {
				t.Fatal(err)
			}
			if _, err := f.store.CreateTicket(f.ctx, tenant, in); err != nil {
				t.Fatal(err)
			}
		}
	}
	create(f.tenant, 4)
	create(tenantB, 2)
	create(quiet, 5)
	claim, err := f.store.ClaimEvents(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	claimed, skipped := claim.Events, claim.Skipped
	var order []string
	for _, c := range claimed {
		order = append(order, map[string]string{f.tenant: "A", tenantB: "B"}[c.TenantID])
	}
	// A and B alternate while both have events (which of them goes first depends on ids).
	if got := strings.Join(order, ""); got != "ABABAA" && got != "BABAAA" {
		t.Errorf("claim order %s", got)
	}
	if skipped != 5 {
		t.Errorf("%d events skipped, want the quiet tenant's 5", skipped)
	}
	// Claimed events are leased: a second claim gets none of them.
	again, err := f.store.ClaimEvents(context.Background(), 100)
	if err != nil || !again.Empty() {
		t.Fatalf("second claim: %+v (%v)", again, err)
	}
	ids := make([]string, len(claimed))
	for i, c := range claimed {
		ids[i] = c.ID
	}
	if err := f.store.ReleaseEvents(context.Background(), ids); err != nil {
		t.Fatal(err)
	}
	f.drain()
}

// TestTwoWorkersShareABacklog: two workers drain one backlog at once; every event is
// evaluated exactly once (each ticket gets exactly one note).
func TestTwoWorkersShareABacklog(t *testing.T) {
	f := newFixture(t)
	f.automation(f.tenant, "note", `true`, []string{domain.EventTicketCreated},
		domain.AutomationAction{Type: domain.AutomationAddNote, Content: "seen {{ ticket.ticket_id }}"})
	var tickets []string
	for range 150 {
		in := domain.TicketCreate{Subject: "backlog"}
		if err := in.Normalize(); err != nil {
			t.Fatal(err)
		}
		d, err := f.store.CreateTicket(f.ctx, f.tenant, in)
		if err != nil {
			t.Fatal(err)
		}
		tickets = append(tickets, d.Ticket.ID)
	}
	done := make(chan struct{})
	for range 2 {
		go func() { f.engine.Drain(context.Background()); done <- struct{}{} }()
	}
	<-done
	<-done
	f.drain()
	for _, id := range tickets {
		if n := f.get(f.tenant, id).MessageCount; n != 1 {
			t.Fatalf("ticket %s has %d notes, want 1", id, n)
		}
	}
}

// TestFailingEventSparesItsBatchMates: a batch runs straight through; when one of its
// events fails, the batch runs again with a savepoint per event, so the others' effects
// and runs commit once and the failing one's are undone, its error kept for its retry.
func TestFailingEventSparesItsBatchMates(t *testing.T) {
	f := newFixture(t)
	id := f.automation(f.tenant, "tag", `true`, []string{domain.EventTicketCreated}, tags("seen"))
	var tickets []string
	for range 3 {
		tickets = append(tickets, f.newTicketPending(f.tenant))
	}
	claim, err := f.store.ClaimEvents(context.Background(), 10)
	claimed := claim.Events
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claimed %d (%v)", len(claimed), err)
	}
	ids := make([]string, len(claimed))
	for i, c := range claimed {
		ids[i] = c.ID
	}
	calls := map[string]int{}
	bad := tickets[1]
	handle := func(ctx context.Context, tx *store.Conn, ev *domain.TicketEvent) ([]domain.AutomationRun, error) {
		calls[ev.TicketID]++
		runs, err := f.engine.Handle(ctx, tx, ev)
		if err == nil && ev.TicketID == bad {
			err = errors.New("this event's storage fails")
		}
		return runs, err
	}
	done, errs, err := f.store.ProcessClaimedEvents(context.Background(), ids, time.Time{}, handle)
	if err != nil || done != 3 {
		t.Fatalf("done %d, err %v", done, err)
	}
	failed := 0
	for _, e := range errs {
		if e != nil {
			failed++
		}
	}
	if failed != 1 {
		t.Fatalf("errors %v, want one", errs)
	}
	for _, tk := range tickets {
		got := f.get(f.tenant, tk)
		if want := tk != bad; slices.Contains(got.Tags, "seen") != want || calls[tk] == 0 {
			t.Errorf("ticket %s: tags %v after %d calls", tk, got.Tags, calls[tk])
		}
	}
	if runs := f.runs(id); len(runs) != 2 {
		t.Errorf("%d runs recorded, want the two good events'", len(runs))
	}
	// (The good events' set_fields made ticket.updated events, pending too.)
	n, err := f.store.DB().NewSelect().Table("ticket_events").
		Where("type = ? AND processed_at IS NULL AND last_error IS NOT NULL", domain.EventTicketCreated).Count(context.Background())
	if err != nil || n != 1 {
		t.Errorf("%d failed events pending, want one (%v)", n, err)
	}
}

// TestClaimSaysWhenAnotherWorkerHoldsTheEvents: a claim that finds eligible events all
// locked by another worker's claim in progress says so, and the next claim after it gets
// them, so a second worker keeps working instead of waiting for a notification.
func TestClaimSaysWhenAnotherWorkerHoldsTheEvents(t *testing.T) {
	f := newFixture(t)
	f.automation(f.tenant, "tag", `true`, []string{domain.EventTicketCreated}, tags("seen"))
	f.newTicketPending(f.tenant)
	ctx := context.Background()
	tx, err := f.store.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "SELECT id FROM ticket_events WHERE processed_at IS NULL FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	claim, err := f.store.ClaimEvents(ctx, 10)
	if err != nil || !claim.Empty() || !claim.Contended {
		t.Fatalf("while held: %+v (%v)", claim, err)
	}
	_ = tx.Rollback()
	claim, err = f.store.ClaimEvents(ctx, 10)
	if err != nil || len(claim.Events) != 1 || claim.Contended {
		t.Fatalf("after: %+v (%v)", claim, err)
	}
	if claim, err = f.store.ClaimEvents(ctx, 10); err != nil || !claim.Empty() || claim.Contended {
		t.Fatalf("nothing left: %+v (%v)", claim, err)
	}
}
