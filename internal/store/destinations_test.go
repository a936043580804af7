package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// TestCircuitOpensProbesAndCloses: ten consecutive failed attempts to a destination open
// its circuit (audited); then attempts wait, but for one probe per interval; an answer
// closes it (audited). The same destination of another tenant is not affected.
func TestCircuitOpensProbesAndCloses(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	tenant, other := newTenant(t, s), newTenant(t, s)
	const url = "https://hooks.example.com/x"
	dest := domain.Destination(url)
	action := func(tn string) string { return newAction(t, s, tn, url, 1) }
	start := func(id string) *store.AttemptStart { return startAttempt(t, s, id, dest, 100) }
	record := func(id string, failed bool) { recordAttempt(t, s, id, dest, failed, domain.ActionFailed) }
	audits := func(action string) int {
		events, _, err := s.ListAudit(ctx, tenant, store.AuditFilter{Action: action}, nil, 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(events)
	}
	for range domain.CircuitFailures {
		id := action(tenant)
		if st := start(id); st.WaitUntil != nil {
			t.Fatal("held back before the circuit opened")
		}
		record(id, true)
	}
	if audits("destination.opened") != 1 {
		t.Fatal("no destination.opened audit event")
	}
	waiting := action(tenant)
	st := start(waiting)
	if st.WaitUntil == nil || time.Until(*st.WaitUntil) < domain.CircuitProbeInterval-5*time.Second {
		t.Fatalf("an attempt went through the open circuit (wait %v)", st.WaitUntil)
	}
	if page, _, _ := s.ListAttempts(ctx, tenant, waiting, 0, 10); len(page) != 0 {
		t.Errorf("a held-back attempt was recorded: %+v", page)
	}
	if st := start(action(other)); st.WaitUntil != nil {
		t.Error("another tenant's attempt to the same destination was held back")
	}
	// The probe is due: exactly one attempt goes through, then the others wait again.
	if _, err := s.DB().ExecContext(ctx, "UPDATE destinations SET next_probe_at = now() - interval '1 second' WHERE tenant_id = ?", tenant); err != nil {
		t.Fatal(err)
	}
	if st := start(waiting); st.WaitUntil != nil {
		t.Fatal("the probe did not go through")
	}
	if st := start(action(tenant)); st.WaitUntil == nil {
		t.Fatal("a second attempt went through with the probe")
	}
	record(waiting, false)
	if audits("destination.closed") != 1 {
		t.Fatal("no destination.closed audit event")
	}
	if st := start(action(tenant)); st.WaitUntil != nil {
		t.Fatal("held back after the circuit closed")
	}
	ds, _, err := s.ListDestinations(ctx, tenant, "", 10)
	if err != nil || len(ds) != 1 || ds[0].State != domain.DestinationClosed || ds[0].ConsecutiveFailures != 0 || ds[0].Destination != dest {
		t.Fatalf("destinations: %+v (%v)", ds, err)
	}
}

// TestDestinationConcurrencyLimit: at most limit attempts to a destination are in flight;
// one more waits until one ends, and the slot of an attempt whose worker died comes back
// once it is older than any attempt can run.
func TestDestinationConcurrencyLimit(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	tenant, other := newTenant(t, s), newTenant(t, s)
	const url = "https://hooks.example.com/x"
	dest := domain.Destination(url)
	action := func(tn string) string { return newAction(t, s, tn, url, 3) }
	start := func(id string) *store.AttemptStart { return startAttempt(t, s, id, dest, 2) }
	first, second, third := action(tenant), action(tenant), action(tenant)
	if start(first).WaitUntil != nil || start(second).WaitUntil != nil {
		t.Fatal("held back under the limit")
	}
	if st := start(third); st.WaitUntil == nil || st.Why != store.WaitBusy {
		t.Fatalf("a third attempt went out past the limit of 2: %+v", st)
	}
	if start(action(other)).WaitUntil != nil {
		t.Error("another tenant's attempt was held back")
	}
	// An outcome gives its slot back, once, however often it is recorded.
	for range 2 {
		if _, err := s.RecordAttempt(ctx, first, store.AttemptResult{Attempt: 1, Status: domain.ActionSucceeded, Outcome: domain.AttemptSucceeded, Destination: dest}); err != nil {
			t.Fatal(err)
		}
	}
	if start(third).WaitUntil != nil {
		t.Fatal("held back after a slot was given back")
	}
	if st := start(action(tenant)); st.WaitUntil == nil {
		t.Fatal("a recorded-twice outcome gave back two slots")
	}
	// second's and third's workers die: their slots come back once they are too old to run.
	if _, err := s.DB().ExecContext(ctx, "UPDATE action_attempts SET started_at = now() - interval '5 minutes' WHERE tenant_id = ?", tenant); err != nil {
		t.Fatal(err)
	}
	late := action(tenant)
	start(late) // refused, and recounts
	if st := start(late); st.WaitUntil != nil {
		t.Fatalf("the dead attempts' slots did not come back: %+v", st)
	}
}

// newAction stores a queued action to url for a new ticket of tenant.
func newAction(t *testing.T, s *store.Store, tenant, url string, maxAttempts int) string {
	t.Helper()
	ctx := context.Background()
	d, err := s.CreateTicket(ctx, tenant, domain.TicketCreate{Subject: "s", Status: "open", Priority: "normal", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	a := &domain.Action{ID: domain.NewID(domain.PrefixAction), TenantID: tenant, TicketID: d.Ticket.ID, Type: domain.ActionTypeCustomHTTP,
		RequestedBy: "api_key:k", Request: domain.ActionRequest{Method: "POST", URL: url, MaxAttempts: maxAttempts}}
	if err := s.CreateAction(ctx, a); err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// recordAttempt records attempt 1 of an action: succeeded, or failed with the action
// then in failedStatus (failed, or retrying).
func recordAttempt(t *testing.T, s *store.Store, id, dest string, failed bool, failedStatus string) {
	t.Helper()
	status, outcome := failedStatus, domain.AttemptFailed
	if !failed {
		status, outcome = domain.ActionSucceeded, domain.AttemptSucceeded
	}
	if _, err := s.RecordAttempt(context.Background(), id, store.AttemptResult{Attempt: 1, Status: status, Outcome: outcome,
		Destination: dest, DestinationFailed: failed}); err != nil {
		t.Fatal(err)
	}
}

// startAttempt starts attempt 1 of an action, with a limit of attempts in flight.
func startAttempt(t *testing.T, s *store.Store, id, dest string, limit int) *store.AttemptStart {
	t.Helper()
	st, err := s.StartAttempt(context.Background(), id, 1, dest, limit)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestDestinationLine: attempts held back by the limit wait in their destination's line,
// oldest first, per tenant; a slot given back wakes the oldest, which leaves the line when
// it gets its slot; one whose run ended leaves it too.
func TestDestinationLine(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	tenant, other := newTenant(t, s), newTenant(t, s)
	const url = "https://hooks.example.com/x"
	dest := domain.Destination(url)
	start := func(id string) *store.AttemptStart { return startAttempt(t, s, id, dest, 1) }
	wake := func(after string) string {
		t.Helper()
		next, err := s.WakeWaiter(ctx, after, dest)
		if err != nil {
			t.Fatal(err)
		}
		return next
	}
	first, second, third := newAction(t, s, tenant, url, 3), newAction(t, s, tenant, url, 3), newAction(t, s, tenant, url, 3)
	theirs, theirsWaiting := newAction(t, s, other, url, 3), newAction(t, s, other, url, 3)
	if st := start(first); st.WaitUntil != nil || st.InLine {
		t.Fatalf("the first attempt was held back: %+v", st)
	}
	for _, id := range []string{second, third} {
		if st := start(id); !st.InLine || st.Why != store.WaitBusy || st.WaitUntil == nil || time.Until(*st.WaitUntil) < 20*time.Second {
			t.Fatalf("an attempt past the limit is not in line: %+v", st)
		}
	}
	start(theirs)
	start(theirsWaiting)
	if _, err := s.RecordAttempt(ctx, first, store.AttemptResult{Attempt: 1, Status: domain.ActionSucceeded, Outcome: domain.AttemptSucceeded, Destination: dest}); err != nil {
		t.Fatal(err)
	}
	if got := wake(first); got != second {
		t.Fatalf("woke %q, want the oldest waiter %s", got, second)
	}
	if st := start(second); st.WaitUntil != nil {
		t.Fatalf("the woken attempt did not get the slot: %+v", st)
	}
	if st := start(third); !st.InLine {
		t.Fatal("the third attempt left the line without a slot")
	}
	if err := s.LeaveLine(ctx, third); err != nil {
		t.Fatal(err)
	}
	if got := wake(second); got != "" {
		t.Fatalf("woke %q from an empty line", got)
	}
	if got := wake(theirs); got != theirsWaiting {
		t.Fatalf("the other tenant's line woke %q, want %s", got, theirsWaiting)
	}
}

// TestDestinationStateMachineMatchesTheDomain: random sequences of attempts started and
// recorded against one destination, through the store's statements, admit exactly the
// attempts domain.Circuit admits and leave the destination where Admit and Record say:
// the SQL and the written-down state machine are the same machine. Run with probes never
// due and always due (CircuitProbeInterval an hour, then 0).
func TestDestinationStateMachineMatchesTheDomain(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	const url, limit = "https://hooks.example.com/x", 3
	dest := domain.Destination(url)
	defer func(d time.Duration) { domain.CircuitProbeInterval = d }(domain.CircuitProbeInterval)
	for _, probe := range []time.Duration{time.Hour, 0} {
		domain.CircuitProbeInterval = probe
		opened, probes, full := 0, 0, 0 // the sequences must reach every transition
		for seed := range uint64(8) {
			rng := rand.New(rand.NewPCG(seed, uint64(probe)))
			tenant := newTenant(t, s)
			model := domain.Circuit{State: domain.DestinationClosed}
			var inFlight []string
			var trace []string
			for step := range 60 {
				if rng.IntN(2) == 0 {
					id := newAction(t, s, tenant, url, 5)
					st := startAttempt(t, s, id, dest, limit)
					next, ok := model.Admit(time.Now(), limit)
					admitted := st.Live && st.WaitUntil == nil
					trace = append(trace, fmt.Sprintf("start %s: store %v, domain %v", id, admitted, ok))
					if admitted != ok {
						t.Fatalf("probe %v seed %d step %d: admitted %v, the domain says %v\n%s", probe, seed, step, admitted, ok, strings.Join(trace, "\n"))
					}
					switch {
					case ok && model.State == domain.DestinationOpen:
						probes++
					case !ok && model.InFlight >= limit:
						full++
					}
					if ok {
						model, inFlight = next, append(inFlight, id)
					}
				} else {
					failed, held := rng.IntN(5) != 0, len(inFlight) > 0 && rng.IntN(4) != 0
					var id string
					if held {
						i := rng.IntN(len(inFlight))
						id = inFlight[i]
						inFlight = slices.Delete(inFlight, i, i+1)
					} else {
						id = newAction(t, s, tenant, url, 5) // an outcome recorded without a start: it held no slot
					}
					recordAttempt(t, s, id, dest, failed, domain.ActionRetrying)
					var changed bool
					if model, changed = model.Record(failed, held, time.Now()); changed && model.State == domain.DestinationOpen {
						opened++
					}
					trace = append(trace, fmt.Sprintf("record %s failed=%v held=%v", id, failed, held))
				}
				var row struct {
					State     string `bun:"state"`
					Failures  int    `bun:"consecutive_failures"`
					InFlight  int    `bun:"in_flight"`
					Opened    bool   `bun:"opened"`
					NextProbe bool   `bun:"next_probe"`
				}
				row.State = domain.DestinationClosed
				err := s.DB().NewRaw(`SELECT state, consecutive_failures, in_flight, opened_at IS NOT NULL AS opened, next_probe_at IS NOT NULL AS next_probe
					FROM destinations WHERE tenant_id = ? AND destination = ?`, tenant, dest).Scan(ctx, &row)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					t.Fatal(err)
				}
				if row.State != model.State || row.Failures != model.ConsecutiveFailures || row.InFlight != model.InFlight ||
					row.Opened != (model.OpenedAt != nil) || row.NextProbe != (model.NextProbeAt != nil) {
					var dump []string
					_ = s.DB().NewRaw(`SELECT concat_ws(' ', action_id, started_at, completed_at, outcome) FROM action_attempts WHERE tenant_id = ? ORDER BY started_at`, tenant).Scan(ctx, &dump)
					t.Fatalf("probe %v seed %d step %d: the store has %+v, the domain %+v\n%s\n%s", probe, seed, step, row, model, strings.Join(trace, "\n"), strings.Join(dump, "\n"))
				}
			}
		}
		if opened == 0 || full == 0 || (probe == 0) != (probes > 0) {
			t.Errorf("probe %v: the sequences opened the circuit %d times, were full %d times, sent %d probes", probe, opened, full, probes)
		}
	}
}
