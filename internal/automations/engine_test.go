package automations

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/internal/telemetry"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// fixture is a tenant with a ticket and an engine whose started actions are recorded.
type fixture struct {
	t       *testing.T
	ctx     context.Context // carries an API key's origin, as API requests do
	store   *store.Store
	engine  *Engine
	tenant  string
	ticket  string
	mu      sync.Mutex
	started []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := dbtest.New(t)
	f := &fixture{t: t, store: st, ctx: domain.WithOrigin(context.Background(), domain.Origin{Actor: "api_key:key_test"})}
	f.engine = &Engine{Store: st, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Start: func(_ context.Context, a *domain.Action) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.started = append(f.started, a.ID)
	}}
	f.tenant = f.newTenant("https://hooks.example.com")
	f.ticket = f.newTicket(f.tenant)
	return f
}

func (f *fixture) newTenant(baseURL string) string {
	f.t.Helper()
	tn := &domain.Tenant{Name: "Acme", ActionsBaseURL: baseURL}
	if err := f.store.CreateTenant(context.Background(), tn, nil); err != nil {
		f.t.Fatal(err)
	}
	return tn.ID
}

func (f *fixture) newTicket(tenant string) string {
	f.t.Helper()
	id := f.newTicketPending(tenant)
	f.drain() // the ticket.created event, before the test's automations exist
	return id
}

// newTicketPending creates a ticket and leaves its ticket.created event to the test.
func (f *fixture) newTicketPending(tenant string) string {
	f.t.Helper()
	in := domain.TicketCreate{Subject: "Order 42 is late", Tags: []string{"returns"}}
	if err := in.Normalize(); err != nil {
		f.t.Fatal(err)
	}
	d, err := f.store.CreateTicket(f.ctx, tenant, in)
	if err != nil {
		f.t.Fatal(err)
	}
	return d.Ticket.ID
}

func (f *fixture) automation(tenant, name, cond string, events []string, actions ...domain.AutomationAction) string {
	f.t.Helper()
	in := domain.AutomationInput{Name: &name, Events: &events, Condition: &cond, Actions: &actions}
	if err := in.CheckStatic(true); err != nil {
		f.t.Fatal(err)
	}
	a, err := f.store.CreateAutomation(context.Background(), tenant, in)
	if err != nil {
		f.t.Fatal(err)
	}
	return a.ID
}

func (f *fixture) drain() {
	f.t.Helper()
	f.engine.Drain(context.Background())
	if n, err := f.store.PendingEvents(context.Background()); err != nil || n != 0 {
		f.t.Fatalf("%d events left after draining (%v)", n, err)
	}
}

// expireClaims ends every lease, as if eventLease had passed, so a claimed event that its
// worker never finished can be taken again.
func (f *fixture) expireClaims() {
	f.t.Helper()
	if _, err := f.store.DB().Exec("UPDATE ticket_events SET claimed_until = NULL"); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) get(tenant, ticket string) *domain.Ticket {
	f.t.Helper()
	d, err := f.store.GetTicket(context.Background(), tenant, ticket, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	return &d.Ticket
}

func (f *fixture) update(u domain.TicketUpdate) {
	f.t.Helper()
	if _, err := f.store.UpdateTicket(f.ctx, f.tenant, f.ticket, u); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) runs(automationID string) []domain.AutomationRun {
	f.t.Helper()
	runs, _, err := f.store.ListRuns(context.Background(), f.tenant, automationID, nil, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	slices.Reverse(runs) // oldest first
	return runs
}

func tags(add ...string) domain.AutomationAction {
	return domain.AutomationAction{Type: domain.AutomationSetFields, AddTags: add}
}

func ptr[T any](v T) *T { return &v }

func TestAllThreeEventsFire(t *testing.T) {
	f := newFixture(t)
	fromAPI := `event.actor startsWith "api_key:"`
	f.automation(f.tenant, "on create", fromAPI, []string{domain.EventTicketCreated}, tags("saw-create"))
	f.automation(f.tenant, "on update", fromAPI+` && changed("priority")`, []string{domain.EventTicketUpdated}, tags("saw-update"))
	f.automation(f.tenant, "on message", fromAPI+` && message.role == "user"`, []string{domain.EventMessageCreated}, tags("saw-message"))

	other := f.newTicket(f.tenant)
	f.drain()
	if got := f.get(f.tenant, other).Tags; !slices.Contains(got, "saw-create") {
		t.Errorf("ticket.created did not fire: %v", got)
	}
	f.update(domain.TicketUpdate{Priority: ptr("high")})
	if _, _, err := f.store.AddMessage(f.ctx, f.tenant, f.ticket, domain.MessageCreate{Role: "user", Content: "hello?", Channel: "chat"}); err != nil {
		t.Fatal(err)
	}
	f.drain()
	got := f.get(f.tenant, f.ticket).Tags
	if !slices.Contains(got, "saw-update") || !slices.Contains(got, "saw-message") || slices.Contains(got, "saw-create") {
		t.Errorf("tags %v; want saw-update and saw-message only", got)
	}
}

// TestRuleDoesNotRefireItself: a rule that updates the ticket on every update fires once;
// the update it caused is skipped, not evaluated.
func TestRuleDoesNotRefireItself(t *testing.T) {
	f := newFixture(t)
	id := f.automation(f.tenant, "bump", `true`, []string{domain.EventTicketUpdated},
		domain.AutomationAction{Type: domain.AutomationSetFields, Priority: ptr("urgent"), AddTags: []string{"touched"}})
	f.update(domain.TicketUpdate{Status: ptr("pending")})
	f.drain()
	runs := f.runs(id)
	if len(runs) != 2 || !runs[0].Matched || runs[1].Matched || !strings.Contains(runs[1].Skipped, "caused") {
		t.Fatalf("runs %+v; want one match, then a skip for the event it caused", runs)
	}
	if tk := f.get(f.tenant, f.ticket); tk.Priority != "urgent" || !slices.Contains(tk.Tags, "touched") {
		t.Errorf("ticket %+v", tk)
	}
}

// TestChainsStopAtTheDepthLimit: two rules that trigger each other stop when the chain
// reaches the depth limit; a longer cycle of rules stops there too.
func TestChainsStopAtTheDepthLimit(t *testing.T) {
	f := newFixture(t)
	ping := f.automation(f.tenant, "ping", `ticket.status == "pending"`, []string{domain.EventTicketUpdated},
		domain.AutomationAction{Type: domain.AutomationSetFields, Status: ptr("on_hold")})
	pong := f.automation(f.tenant, "pong", `ticket.status == "on_hold"`, []string{domain.EventTicketUpdated},
		domain.AutomationAction{Type: domain.AutomationSetFields, Status: ptr("pending")})
	f.update(domain.TicketUpdate{Status: ptr("pending")}) // depth 1
	f.drain()
	// depth 1 -> ping (on_hold, depth 2) -> pong (pending, depth 3) -> not evaluated.
	if tk := f.get(f.tenant, f.ticket); tk.Status != "pending" {
		t.Errorf("status %s after the chain", tk.Status)
	}
	// Each rule matched once; the depth-3 event was evaluated by neither.
	for name, id := range map[string]string{"ping": ping, "pong": pong} {
		runs := f.runs(id)
		matched := 0
		for _, r := range runs {
			if r.Matched {
				matched++
			}
		}
		if last := runs[len(runs)-1]; matched != 1 || !strings.Contains(last.Skipped, "depth limit (3)") {
			t.Errorf("%s runs %+v", name, runs)
		}
	}

	// A configurable limit: with 4, a cycle of four rules goes one step further.
	g := newFixture(t)
	g.engine.MaxDepth = 4
	steps := []string{"open", "pending", "on_hold", "solved", "closed"}
	for i := 0; i < 4; i++ {
		g.automation(g.tenant, "step "+strconv.Itoa(i), `ticket.status == "`+steps[i]+`" && changed("status")`, []string{domain.EventTicketUpdated},
			domain.AutomationAction{Type: domain.AutomationSetFields, Status: ptr(steps[i+1])})
	}
	g.update(domain.TicketUpdate{Status: ptr("pending"), Subject: ptr("go")}) // depth 1: pending
	g.drain()
	// pending (1) -> on_hold (2) -> solved (3) -> closed (4, not evaluated)
	if tk := g.get(g.tenant, g.ticket); tk.Status != "closed" {
		t.Errorf("with depth 4: status %s, want closed", tk.Status)
	}
}

// TestEachAutomationFiresOncePerChain: A's change triggers B, B's change would trigger A
// again in the same chain, and does not.
func TestEachAutomationFiresOncePerChain(t *testing.T) {
	f := newFixture(t)
	f.engine.MaxDepth = 10
	a := f.automation(f.tenant, "a", `true`, []string{domain.EventTicketUpdated}, tags("a"))
	b := f.automation(f.tenant, "b", `has_tag("a")`, []string{domain.EventTicketUpdated},
		domain.AutomationAction{Type: domain.AutomationSetFields, RemoveTags: []string{"a"}, AddTags: []string{"b"}})
	f.update(domain.TicketUpdate{Priority: ptr("low")})
	f.drain()
	ra := f.runs(a)
	if len(ra) != 3 || !ra[0].Matched || !strings.Contains(ra[1].Skipped, "caused") || !strings.Contains(ra[2].Skipped, "already fired") {
		t.Errorf("a's runs %+v", ra)
	}
	if rb := f.runs(b); len(rb) < 2 {
		t.Errorf("b's runs %+v", rb)
	}
	if tk := f.get(f.tenant, f.ticket); !slices.Equal(tk.Tags, []string{"returns", "b"}) {
		t.Errorf("tags %v", tk.Tags)
	}
}

// TestCustomHTTPStartsOnceEvenIfEvaluatedTwice: an evaluation whose transaction fails
// leaves nothing behind and starts nothing; evaluating again yields the action with the
// same derived ID, started once.
func TestCustomHTTPStartsOnceEvenIfEvaluatedTwice(t *testing.T) {
	f := newFixture(t)
	id := f.automation(f.tenant, "page", `ticket.priority == "urgent"`, []string{domain.EventTicketUpdated},
		domain.AutomationAction{Type: domain.AutomationCustomHTTP, Method: "POST", URL: "/hooks/pager", BodyJSON: `{"ticket": "{{ ticket.ticket_id }}"}`})
	f.update(domain.TicketUpdate{Priority: ptr("urgent")})

	crash := errors.New("the worker dies before commit")
	_, err := f.store.ProcessNextEvent(context.Background(), func(ctx context.Context, tx *store.Conn, ev *domain.TicketEvent) ([]domain.AutomationRun, error) {
		if _, err := f.engine.Handle(ctx, tx, ev); err != nil {
			return nil, err
		}
		return nil, crash
	})
	if !errors.Is(err, crash) || len(f.started) != 0 {
		t.Fatalf("err %v, started %v", err, f.started)
	}
	f.expireClaims()
	f.drain()
	acts, _, err := f.store.ListActions(context.Background(), f.tenant, f.ticket, nil, 10)
	if err != nil || len(acts) != 1 {
		t.Fatalf("%d actions (%v)", len(acts), err)
	}
	a := acts[0]
	runs := f.runs(id)
	if len(f.started) != 1 || f.started[0] != a.ID || a.RequestedBy != "automation:"+id || len(runs) != 1 || runs[0].Actions[0].ActionID != a.ID {
		t.Errorf("started %v, action %+v, runs %+v", f.started, a, runs)
	}
	if a.Request.URL != "https://hooks.example.com/hooks/pager" || a.Payload.BodyJSON != `{"ticket": "`+f.ticket+`"}` {
		t.Errorf("rendered request %+v", a.Request)
	}
}

func TestAutomationsAreIsolatedPerTenant(t *testing.T) {
	f := newFixture(t)
	mine := f.automation(f.tenant, "mine", `true`, domain.EventTypes, tags("seen"))
	other := f.newTenant("")
	theirs := f.newTicket(other)
	if _, err := f.store.UpdateTicket(f.ctx, other, theirs, domain.TicketUpdate{Priority: ptr("high")}); err != nil {
		t.Fatal(err)
	}
	f.drain()
	if got := f.get(other, theirs).Tags; slices.Contains(got, "seen") {
		t.Errorf("another tenant's automation fired: %v", got)
	}
	if runs := f.runs(mine); len(runs) != 0 {
		t.Errorf("runs on another tenant's events: %+v", runs)
	}
}

// TestRuleErrorsAreRecorded: a condition failing at run time, or an action no longer
// valid, is recorded in the run; the event is processed and other rules still run.
func TestRuleErrorsAreRecorded(t *testing.T) {
	f := newFixture(t)
	broken := f.automation(f.tenant, "broken", `previous.contact.name == "x"`, []string{domain.EventTicketCreated}, tags("never"))
	http := f.automation(f.tenant, "http", `true`, []string{domain.EventTicketCreated},
		domain.AutomationAction{Type: domain.AutomationCustomHTTP, Method: "POST", URL: "https://elsewhere.example/x"}, tags("after-http"))
	tk := f.newTicket(f.tenant)
	if r := f.runs(broken); len(r) != 1 || r[0].Error == "" || r[0].Matched {
		t.Errorf("broken runs %+v", r)
	}
	r := f.runs(http)
	if len(r) != 1 || !r[0].Matched || !strings.Contains(r[0].Actions[0].Error, "allowed hosts") || r[0].Actions[1].Error != "" {
		t.Errorf("http runs %+v", r)
	}
	if got := f.get(f.tenant, tk).Tags; !slices.Contains(got, "after-http") {
		t.Errorf("the action after the failing one did not run: %v", got)
	}
}

// TestNoteAddsAnInternalMessage: add_note writes a note with its template filled in, and
// the message.created it causes carries the automation as actor.
func TestNoteAddsAnInternalMessage(t *testing.T) {
	f := newFixture(t)
	f.automation(f.tenant, "note", `changed_to("status", "solved")`, []string{domain.EventTicketUpdated},
		domain.AutomationAction{Type: domain.AutomationAddNote, Content: "Solved: {{ ticket.subject }}"})
	watcher := f.automation(f.tenant, "watch notes", `message.role == "note" && event.actor startsWith "automation:" && event.depth == 2`,
		[]string{domain.EventMessageCreated}, tags("noted"))
	f.update(domain.TicketUpdate{Status: ptr("solved")})
	f.drain()
	msgs, _, err := f.store.ListMessages(context.Background(), f.tenant, f.ticket, nil, 10)
	if err != nil || len(msgs) != 1 || msgs[0].Role != "note" || msgs[0].Content != "Solved: Order 42 is late" {
		t.Fatalf("messages %+v (%v)", msgs, err)
	}
	if r := f.runs(watcher); len(r) != 1 || !r[0].Matched {
		t.Errorf("watcher runs %+v", r)
	}
}

// TestEvaluationsAreCounted: each automation evaluated against an event is counted by its
// result, and an evaluation stopped by the rule budget also by that budget.
func TestEvaluationsAreCounted(t *testing.T) {
	f := newFixture(t)
	m := telemetry.NewMetrics(telemetry.ProcessWorker)
	f.engine.Metrics = m
	f.automation(f.tenant, "tagger", `true`, []string{domain.EventTicketUpdated}, tags("seen"))
	f.automation(f.tenant, "never", `false`, []string{domain.EventTicketUpdated}, tags("never"))
	f.automation(f.tenant, "costly", overBudget, []string{domain.EventTicketUpdated}, tags("costly"))
	f.update(domain.TicketUpdate{Subject: ptr("changed")})
	f.drain()
	// The client's change: tagger matches, never does not, costly runs out of budget. The
	// tagger's own change is a second event, on which the tagger is skipped (loop
	// protection) and the other two do as before.
	want := map[string]map[string]float64{
		"threada_automation_evaluations_total":     {"matched": 1, "not_matched": 2, "skipped": 1, "error": 2},
		"threada_automation_budget_failures_total": {"rule": 2, "event": 0, "wall_clock": 0},
	}
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, mf := range mfs {
		w, ok := want[mf.GetName()]
		if !ok {
			continue
		}
		seen++
		for _, s := range mf.GetMetric() {
			l := s.GetLabel()[0].GetValue()
			if got := s.GetCounter().GetValue(); got != w[l] {
				t.Errorf("%s{%s} = %v, want %v", mf.GetName(), l, got, w[l])
			}
		}
	}
	if seen != len(want) {
		t.Errorf("found %d of the %d metrics", seen, len(want))
	}
}
