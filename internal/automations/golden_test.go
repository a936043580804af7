package automations

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/golden"
	"github.com/threada/threada/internal/store"
)

// TestRunsAreUnchanged records what the engine makes of the existing tests' rules (matches,
// skips, errors, budget stops, rendered actions and explanations) on a few events, and
// compares it with testdata/runs.golden: the run history admins read must not change by a
// byte when the evaluation moves.
func TestRunsAreUnchanged(t *testing.T) {
	f := newFixture(t)
	many := make([]string, 22)
	for i := range many {
		many[i] = fmt.Sprintf("ticket.message_count != %d", 100+i)
	}
	for _, a := range []struct {
		name, cond string
		events     []string
		actions    []domain.AutomationAction
	}{
		{"on update", `event.actor startsWith "api_key:" && changed("priority")`, []string{domain.EventTicketUpdated}, []domain.AutomationAction{tags("saw-update")}},
		{"broken", `previous.contact.name == "x"`, []string{domain.EventTicketCreated}, []domain.AutomationAction{tags("never")}},
		{"http", `true`, []string{domain.EventTicketCreated}, []domain.AutomationAction{
			{Type: domain.AutomationCustomHTTP, Method: "POST", URL: "https://elsewhere.example/x"}, tags("after-http")}},
		{"page", `ticket.priority == "urgent" || has_tag("vip")`, []string{domain.EventTicketUpdated}, []domain.AutomationAction{
			{Type: domain.AutomationCustomHTTP, Method: "POST", URL: "/hooks/{{ ticket.ticket_id }}?p={{ ticket.priority }}",
				Headers: map[string]string{"X-Subject": "{{ ticket.subject }}"}, BodyJSON: `{"ticket": "{{ ticket.ticket_id }}", "n": {{ ticket.message_count }}}`}}},
		{"note", `changed_to("status", "solved")`, []string{domain.EventTicketUpdated}, []domain.AutomationAction{
			{Type: domain.AutomationAddNote, Content: "Solved: {{ ticket.subject }}"}}},
		{"watch notes", `message.role == "note" && event.actor startsWith "automation:" && event.depth == 2`, []string{domain.EventMessageCreated}, []domain.AutomationAction{tags("noted")}},
		{"costly", overBudget, []string{domain.EventTicketUpdated}, []domain.AutomationAction{tags("costly")}},
		{"costly template", `true`, []string{domain.EventMessageCreated}, []domain.AutomationAction{
			{Type: domain.AutomationAddNote, Content: `{{ len(1..20000) }}`}}},
		{"runtime template", `message.role == "user"`, []string{domain.EventMessageCreated}, []domain.AutomationAction{
			{Type: domain.AutomationAddNote, Content: `{{ int(ticket.subject) }}`}, tags("after-template")}},
		{"many clauses", strings.Join(many, " && "), []string{domain.EventTicketUpdated}, []domain.AutomationAction{tags("many")}},
		{"never", `false`, []string{domain.EventTicketUpdated}, []domain.AutomationAction{tags("never")}},
	} {
		f.automation(f.tenant, a.name, a.cond, a.events, a.actions...)
	}
	f.newTicket(f.tenant)
	f.update(domain.TicketUpdate{Priority: ptr("urgent")})
	f.drain()
	f.update(domain.TicketUpdate{Status: ptr("solved"), AddTags: []string{"vip"}})
	f.drain()
	if _, _, err := f.store.AddMessage(f.ctx, f.tenant, f.ticket, domain.MessageCreate{Role: "user", Content: "hello?", Channel: "chat"}); err != nil {
		t.Fatal(err)
	}
	f.drain()

	autos, _, err := f.store.ListAutomations(context.Background(), f.tenant, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, a := range autos {
		fmt.Fprintf(&out, "# %s (%s): enabled %v, budget failures %d\n", a.Name, a.ID, a.Enabled, a.BudgetFailures)
		for _, r := range f.runs(a.ID) {
			fmt.Fprintf(&out, "%s on %s: matched %v skipped %q error %q\n", r.EventType, r.TicketID, r.Matched, r.Skipped, r.Error)
			acts, _ := json.Marshal(r.Actions)
			fmt.Fprintf(&out, "  actions %s\n", acts)
			if r.Explanation != nil {
				ex, _ := json.Marshal(r.Explanation)
				fmt.Fprintf(&out, "  explanation %s\n  %s\n", ex, strings.ReplaceAll(r.Explanation.String(), "\n", "\n  "))
			}
		}
	}
	acts, _, err := f.store.ListActions(context.Background(), f.tenant, f.ticket, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acts {
		fmt.Fprintf(&out, "action %s by %s: %s %s %v %s\n", a.ID, a.RequestedBy, a.Request.Method, a.Request.URL, a.Payload.Headers, a.Payload.BodyJSON)
	}
	golden.Check(t, "runs", out.String())
}

// TestSLAClocksAreUnchanged feeds the engine a ticket's life against two policies and
// records, after each event, the ticket's clocks and timers and the timers given to
// Temporal or taken back, and compares them with testdata/sla_clocks.golden.
func TestSLAClocksAreUnchanged(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var out strings.Builder
	// Generations are drawn from a sequence; what counts is that each arm or disarm of a
	// timer is newer than the last one its workflow heard of.
	last := map[string]int64{}
	newer := func(id string, gen int64) string {
		defer func() { last[id] = gen }()
		if gen > last[id] {
			return "newer"
		}
		return "NOT NEWER"
	}
	f.engine.Arm = func(_ context.Context, tm *store.Timer) {
		fmt.Fprintf(&out, "  armed %s (%s) due %s\n", tm.ID, newer(tm.ID, tm.Generation), tm.DueAt.Format(time.RFC3339))
	}
	f.engine.Disarm = func(_ context.Context, id string, gen int64) {
		fmt.Fprintf(&out, "  disarmed %s (%s)\n", id, newer(id, gen))
	}
	day := []domain.HoursRange{{Start: "09:00", End: "12:00"}, {Start: "13:00", End: "17:00"}}
	cal := &domain.BusinessCalendar{TimeZone: "Europe/Berlin", Weekly: map[string][]domain.HoursRange{
		"monday": day, "tuesday": day, "wednesday": day, "thursday": day, "friday": day}, Holidays: []string{"2026-12-01"}}
	policy := func(name, cond string, targets map[string]domain.SLATarget, cal *domain.BusinessCalendar, warn *int) {
		in := domain.SLAPolicyInput{Name: &name, Condition: &cond, Targets: &targets, Calendar: cal, WarningPercent: warn}
		if err := in.CheckStatic(true); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.CreateSLAPolicy(ctx, f.tenant, in); err != nil {
			t.Fatal(err)
		}
	}
	policy("VIP", `"vip" in ticket.tags`, map[string]domain.SLATarget{
		domain.PriorityUrgent: {FirstReply: 30 * time.Minute, Resolution: 2 * time.Hour},
		domain.PriorityNormal: {Resolution: 8 * time.Hour}}, nil, ptr(50))
	policy("Standard", `ticket.channel == "api"`, map[string]domain.SLATarget{
		domain.PriorityNormal: {FirstReply: time.Hour, Resolution: 4 * time.Hour},
		domain.PriorityHigh:   {FirstReply: 2 * time.Hour}}, cal, nil)
	policy("Broken", `int(ticket.subject) > 0`, map[string]domain.SLATarget{domain.PriorityLow: {FirstReply: time.Hour}}, nil, nil)

	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, berlin).UTC() }
	ticket := domain.Ticket{ID: f.ticket, TenantID: f.tenant, Subject: "s", Status: domain.StatusOpen, Priority: domain.PriorityNormal,
		Channel: domain.ChannelAPI, Tags: []string{}, CreatedAt: at(27, 15, 0)}
	step := func(what, typ string, when time.Time, change func(tk *domain.Ticket), msg *domain.Message) {
		t.Helper()
		change(&ticket)
		ev := &domain.TicketEvent{ID: domain.NewID(domain.PrefixEvent), TenantID: f.tenant, TicketID: f.ticket, Type: typ,
			Origin: domain.Origin{Actor: "api_key:key_test", Depth: 1}, OccurredAt: when, Ticket: ticket, Message: msg,
			Changes: map[string]domain.FieldChange{}}
		fmt.Fprintf(&out, "%s: %s at %s\n", what, typ, when.Format(time.RFC3339))
		if err := f.store.InTx(ctx, func(tx *store.Conn) error { _, err := f.engine.Handle(ctx, tx, ev); return err }); err != nil {
			t.Fatal(err)
		}
		clocks, err := f.store.TicketClocks(ctx, f.ticket)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range domain.SLAMetrics {
			if c := clocks[m]; c != nil {
				fmt.Fprintf(&out, "  clock %s: policy %s target %s elapsed %s running since %s due %s warning %s warned %v breached %v at %s achieved %s\n",
					m, c.PolicyID, c.Target, c.Elapsed, clockTime(c.RunningSince), clockTime(c.DueAt), clockTime(c.WarningAt), c.Warned, c.Breached,
					clockTime(c.BreachedAt), clockTime(c.AchievedAt))
			}
		}
		var timers []struct {
			ID         string    `bun:"id"`
			DueAt      time.Time `bun:"due_at"`
			Generation int64     `bun:"generation"`
			Event      string    `bun:"event"`
		}
		if err := f.store.DB().NewRaw("SELECT id, due_at, generation, event::text AS event FROM ticket_timers WHERE ticket_id = ? ORDER BY id", f.ticket).Scan(ctx, &timers); err != nil {
			t.Fatal(err)
		}
		for _, tm := range timers {
			same := "the armed one"
			if tm.Generation != last[tm.ID] {
				same = "NOT THE ARMED ONE"
			}
			fmt.Fprintf(&out, "  timer %s (%s) due %s event %s\n", tm.ID, same, tm.DueAt.UTC().Format(time.RFC3339), tm.Event)
		}
	}
	keep := func(*domain.Ticket) {}
	set := func(f func(tk *domain.Ticket)) func(tk *domain.Ticket) { return f }
	step("created", domain.EventTicketCreated, at(27, 15, 0), keep, nil)
	step("a user writes", domain.EventMessageCreated, at(27, 15, 10), keep, &domain.Message{Role: domain.RoleUser, CreatedAt: at(27, 15, 10)})
	step("an agent answers", domain.EventMessageCreated, at(27, 15, 20), keep, &domain.Message{Role: domain.RoleAgent, CreatedAt: at(27, 15, 20)})
	step("pending", domain.EventTicketUpdated, at(27, 15, 30), set(func(tk *domain.Ticket) { tk.Status = domain.StatusPending }), nil)
	step("on hold", domain.EventTicketUpdated, at(27, 16, 0), set(func(tk *domain.Ticket) { tk.Status = domain.StatusOnHold }), nil)
	step("open again", domain.EventTicketUpdated, at(30, 10, 0), set(func(tk *domain.Ticket) { tk.Status = domain.StatusOpen }), nil)
	if _, err := f.store.DB().NewRaw("UPDATE ticket_slas SET warned = true WHERE ticket_id = ?", f.ticket).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	step("after the warning", domain.EventTicketUpdated, at(30, 13, 40), keep, nil)
	step("high: no resolution target", domain.EventTicketUpdated, at(30, 14, 0), set(func(tk *domain.Ticket) { tk.Priority = domain.PriorityHigh }), nil)
	step("normal again", domain.EventTicketUpdated, at(30, 14, 10), set(func(tk *domain.Ticket) { tk.Priority = domain.PriorityNormal }), nil)
	if _, err := f.store.DB().NewRaw("UPDATE ticket_slas SET breached_at = ? WHERE ticket_id = ? AND metric = 'resolution'", at(30, 14, 5), f.ticket).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	step("after the breach", domain.EventTicketUpdated, at(30, 15, 0), keep, nil)
	step("vip urgent: another policy", domain.EventTicketUpdated, at(30, 15, 30), set(func(tk *domain.Ticket) {
		tk.Priority, tk.Tags = domain.PriorityUrgent, []string{"vip"}
	}), nil)
	step("solved", domain.EventTicketUpdated, at(30, 16, 0), set(func(tk *domain.Ticket) { tk.Status = domain.StatusSolved }), nil)
	step("closed", domain.EventTicketUpdated, at(30, 16, 30), set(func(tk *domain.Ticket) { tk.Status = domain.StatusClosed }), nil)
	step("reopened over the holiday", domain.EventTicketUpdated, at(30, 16, 50), set(func(tk *domain.Ticket) {
		tk.Status, tk.Tags, tk.Priority = domain.StatusOpen, []string{}, domain.PriorityNormal
	}), nil)
	step("low: no policy's target", domain.EventTicketUpdated, at(30, 17, 0), set(func(tk *domain.Ticket) { tk.Priority = domain.PriorityLow }), nil)
	step("a delay fires: no SLA change", domain.EventDelayElapsed, at(30, 17, 5), keep, nil)
	golden.CheckWithTimes(t, "sla_clocks", out.String())
}

func clockTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
