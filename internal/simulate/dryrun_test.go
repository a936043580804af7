package simulate

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/rules"
)

var at = time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// stored is the ticket a dry run's loader finds.
func stored(id string) (*domain.Ticket, error) {
	if id != "tkt_06h2s4fdwd4rcfq5dyr5hb9qmr" {
		return nil, domain.Errorf(domain.ENOTFOUND, "No ticket %s exists.", id)
	}
	return &domain.Ticket{ID: id, TenantID: "ten_1", Subject: "Order 42 is late", Status: "open", Priority: "normal",
		Channel: "email", Tags: []string{"returns"}, MessageCount: 3}, nil
}

// TestDryRunEvent: the event a dry run evaluates, from what the request gives.
func TestDryRunEvent(t *testing.T) {
	storedID := "tkt_06h2s4fdwd4rcfq5dyr5hb9qmr"
	for _, tc := range []struct {
		name  string
		in    DryRunInput
		check func(t *testing.T, ev *domain.TicketEvent)
		param string // the error's; "" for none
		code  string
	}{
		{name: "a stored ticket, updated by the caller", in: DryRunInput{TicketID: &storedID},
			check: func(t *testing.T, ev *domain.TicketEvent) {
				if ev.Type != domain.EventTicketUpdated || ev.Origin.Actor != "api_key:key_1" || ev.Ticket.Subject != "Order 42 is late" ||
					ev.Previous == nil || ev.Previous.Status != "open" || len(ev.Changes) != 0 || !ev.OccurredAt.Equal(at) || ev.Message != nil {
					t.Errorf("%+v", ev)
				}
			}},
		{name: "changes make the previous state", in: DryRunInput{TicketID: &storedID, Changes: map[string]domain.FieldChange{
			"status": {From: "pending", To: "open"}, "tags": {From: []any{"a", 1}, To: []any{"returns"}},
			"contact": {From: map[string]any{"name": "Ada"}, To: nil}}},
			check: func(t *testing.T, ev *domain.TicketEvent) {
				p := ev.Previous
				if p.Status != "pending" || !slices.Equal(p.Tags, []string{"a"}) || p.Contact == nil || p.Contact.Name != "Ada" ||
					ev.Ticket.Status != "open" || len(ev.Changes) != 3 {
					t.Errorf("previous %+v, changes %v", p, ev.Changes)
				}
			}},
		{name: "created: every field changed, no previous state", in: DryRunInput{TicketID: &storedID, EventType: domain.EventTicketCreated,
			Changes: map[string]domain.FieldChange{"status": {From: "pending", To: "open"}}},
			check: func(t *testing.T, ev *domain.TicketEvent) {
				if ev.Previous != nil || ev.Changes["status"].From != nil || ev.Changes["subject"].To != "Order 42 is late" {
					t.Errorf("previous %+v, changes %v", ev.Previous, ev.Changes)
				}
			}},
		{name: "a message by another actor", in: DryRunInput{TicketID: &storedID, EventType: domain.EventMessageCreated, Actor: "automation:aut_1",
			Message: &domain.MessageCreate{Role: "user", Content: "refund?", Channel: "chat"}},
			check: func(t *testing.T, ev *domain.TicketEvent) {
				m := ev.Message
				if ev.Origin.Actor != "automation:aut_1" || m == nil || m.ID != "msg_dry_run" || m.TicketID != storedID || m.Content != "refund?" || !m.CreatedAt.Equal(at) {
					t.Errorf("%+v %+v", ev.Origin, m)
				}
			}},
		{name: "a described ticket, with defaults", in: DryRunInput{Ticket: &TicketSnapshot{Tags: []string{"vip"}, MessageCount: 2,
			Contact: &domain.Contact{Email: "ada@example.com"}}},
			check: func(t *testing.T, ev *domain.TicketEvent) {
				tk := ev.Ticket
				if tk.ID != "tkt_dry_run" || tk.TenantID != "ten_1" || tk.Subject != "(no subject)" || tk.Status != "open" || tk.Priority != "normal" ||
					tk.MessageCount != 2 || tk.Contact == nil || !tk.CreatedAt.Equal(at) || !tk.LastMessageAt.Equal(at) {
					t.Errorf("%+v", tk)
				}
			}},
		{name: "a described ticket's own ID", in: DryRunInput{Ticket: &TicketSnapshot{TicketID: "tkt_snapshot", Priority: "urgent"}},
			check: func(t *testing.T, ev *domain.TicketEvent) {
				if ev.Ticket.ID != "tkt_snapshot" || ev.Ticket.Priority != "urgent" {
					t.Errorf("%+v", ev.Ticket)
				}
			}},
		{name: "a message completed as one added to the ticket", in: DryRunInput{TicketID: &storedID, EventType: domain.EventMessageCreated,
			Message: &domain.MessageCreate{Content: "refund?"}},
			check: func(t *testing.T, ev *domain.TicketEvent) {
				if m := ev.Message; m.Role != domain.RoleUser || m.Channel != "email" {
					t.Errorf("role %q, channel %q; want user and the ticket's email", m.Role, m.Channel)
				}
			}},
		{name: "a message checked as one added to the ticket", in: DryRunInput{TicketID: &storedID, Message: &domain.MessageCreate{Content: " "}},
			param: "message.content", code: domain.EINVALID},
		{name: "unknown event type", in: DryRunInput{TicketID: ptr("tkt_nope"), EventType: "ticket.deleted"}, param: "event.type", code: domain.EINVALID},
		{name: "not a ticket ID", in: DryRunInput{TicketID: ptr("tkt_nope")}, param: "ticket_id", code: domain.EINVALID},
		{name: "no such ticket", in: DryRunInput{TicketID: ptr("tkt_06h2s4fdwd4rcfq5dyr5hb9qm0")}, code: domain.ENOTFOUND},
		{name: "described ticket's bad priority", in: DryRunInput{Ticket: &TicketSnapshot{Priority: "soon"}}, param: "ticket.priority", code: domain.EINVALID},
		{name: "negative message count", in: DryRunInput{Ticket: &TicketSnapshot{MessageCount: -1}}, param: "ticket.message_count", code: domain.EINVALID},
		{name: "a change of a field that has none", in: DryRunInput{TicketID: &storedID, Changes: map[string]domain.FieldChange{"channel": {}}},
			param: "changes", code: domain.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.At = at
			ev, err := tc.in.event("ten_1", "api_key:key_1", stored)
			if tc.code != "" {
				de, ok := err.(*domain.Error)
				if !ok || de.Code != tc.code || de.Param != tc.param {
					t.Fatalf("got %v, want %s on %q", err, tc.code, tc.param)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.ID != "evt_dry_run" || ev.TenantID != "ten_1" {
				t.Errorf("event %s of %s", ev.ID, ev.TenantID)
			}
			tc.check(t, ev)
		})
	}
}

// TestDryRunResult: a rule against an event, its actions shown as they would run.
func TestDryRunResult(t *testing.T) {
	tenant := &domain.Tenant{ID: "ten_1", ActionsBaseURL: "https://hooks.example.com"}
	ev := &domain.TicketEvent{ID: "evt_dry_run", TenantID: "ten_1", Type: domain.EventTicketUpdated, OccurredAt: at,
		Ticket: domain.Ticket{ID: "tkt_1", Subject: `He said "now"`, Priority: "urgent", Tags: []string{"vip"}}, Changes: map[string]domain.FieldChange{}}
	ev.Previous = &ev.Ticket
	escalate := []domain.AutomationAction{
		{Type: domain.AutomationCustomHTTP, Method: "POST", URL: "/hooks/{{ ticket.ticket_id }}", Headers: map[string]string{"X-Source": "threada"},
			BodyJSON: `{"subject": "{{ ticket.subject }}"}`},
		{Type: domain.AutomationSetFields, Status: ptr("pending"), AddTags: []string{"escalated"}, RemoveTags: []string{"vip"}},
		{Type: domain.AutomationAddNote, Content: "Escalated: {{ ticket.priority }}"},
		{Type: domain.AutomationCustomHTTP, Method: "POST", URL: "https://elsewhere.example/x"},
		{Type: domain.AutomationAddNote, Content: "{{ int(ticket.subject) }}"},
	}
	hostError := "`payload.url` host \"elsewhere.example\" is not on this tenant's allowed hosts; add it to the allow-list or use a path relative to the actions base URL."
	for _, tc := range []struct {
		name      string
		condition string
		matched   bool
		actions   []Action // custom_http's request aside
		request   *Request // the first action's, headers aside
		err       string
		explained string
	}{
		{name: "a match: its actions as they would run", condition: `ticket.priority == "urgent"`, matched: true,
			actions: []Action{
				{Type: domain.AutomationCustomHTTP},
				{Type: domain.AutomationSetFields, Status: ptr("pending"), AddTags: []string{"escalated"}, RemoveTags: []string{"vip"}, TagsAfter: []string{"escalated"}},
				{Type: domain.AutomationAddNote, Content: "Escalated: urgent"},
				{Type: domain.AutomationCustomHTTP, Error: hostError},
				{Type: domain.AutomationAddNote, Error: `template: invalid operation: int(He said "now") (1:1)`},
			},
			request: &Request{Method: "POST", URL: "https://hooks.example.com/hooks/tkt_1", Body: `{"subject": "He said \"now\""}`, TimeoutMS: 10000, MaxAttempts: 5,
				ThreadaHeaders: []string{"Idempotency-Key", "X-Threada-Attempt", "webhook-id", "webhook-timestamp", "webhook-signature"}},
			explained: `ticket.priority == "urgent" -> true (ticket.priority = "urgent")`},
		{name: "no match: nothing to do", condition: `has_tag("returns")`, actions: []Action{},
			explained: `has_tag("returns") -> false (ticket.tags = ["vip"])`},
		{name: "a runtime error", condition: `int(ticket.subject) > 0`, actions: []Action{},
			err:       `condition: invalid operation: int(He said "now") (1:1)`,
			explained: `int(ticket.subject) > 0 -> (error: invalid operation: int(He said "now") (1:1)) (ticket.subject = "He said \"now\"")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := rules.Compile(domain.Rule{Condition: tc.condition, Actions: escalate})
			if err != nil {
				t.Fatal(err)
			}
			r := dryRun(c, ev, tenant)
			if r.Matched != tc.matched {
				t.Errorf("matched %v", r.Matched)
			}
			if tc.request != nil {
				got := r.Actions[0].Request
				if got == nil || got.Headers["X-Source"] != "threada" || got.Headers["Content-Type"] != "application/json" {
					t.Fatalf("request %+v", got)
				}
				headers := got.Headers
				got.Headers = nil
				if !reflect.DeepEqual(got, tc.request) {
					t.Errorf("request %+v\nwant    %+v", got, tc.request)
				}
				got.Headers = headers
				r.Actions[0].Request = nil
			}
			if !reflect.DeepEqual(r.Actions, tc.actions) {
				t.Errorf("actions %+v\nwant    %+v", r.Actions, tc.actions)
			}
			if got := errText(r.Err); got != tc.err {
				t.Errorf("error %q, want %q", got, tc.err)
			}
			if r.Explanation == nil || r.Explanation.String() != tc.explained {
				t.Errorf("explanation %v, want %q", r.Explanation, tc.explained)
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestDryRunDraftCheckedAsSaved: a draft's condition is held to what saving an automation
// holds it to, before it is compiled.
func TestDryRunDraftCheckedAsSaved(t *testing.T) {
	for name, condition := range map[string]string{
		"blank":    " \n",
		"too long": "true && " + strings.Repeat("true && ", domain.MaxConditionLen/8) + "true",
	} {
		in := DryRunInput{Condition: &condition}
		_, err := in.rule(context.Background(), nil, "ten_1")
		if de, ok := err.(*domain.Error); !ok || de.Code != domain.EINVALID || de.Param != "condition" {
			t.Errorf("%s: %v, want invalid condition", name, err)
		}
	}
}
