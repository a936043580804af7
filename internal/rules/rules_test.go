package rules

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/threada/threada/internal/domain"
)

var at = time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)

// matches evaluates c's condition alone on a fresh VM.
func matches(c *Compiled, env *Env) (bool, error) {
	e := c.Evaluate(new(Machine), env, MatchOnly)
	return e.Matched, e.Err
}

// updated is a ticket.updated event: priority normal -> urgent, tag vip added.
func updated() *domain.TicketEvent {
	before := domain.Ticket{ID: "tkt_1", TenantID: "ten_1", Subject: `Order "42" late`, Status: "open", Priority: "normal",
		Channel: "email", Tags: []string{"returns"}, MessageCount: 2, CreatedAt: at.Add(-time.Hour), UpdatedAt: at.Add(-time.Hour),
		LastMessageAt: at.Add(-time.Minute), Contact: &domain.Contact{Name: "Ada", Email: "ada@example.com"}}
	after := before
	after.Priority, after.Tags, after.UpdatedAt = "urgent", []string{"returns", "vip"}, at
	return &domain.TicketEvent{ID: "evt_1", TenantID: "ten_1", TicketID: "tkt_1", Type: domain.EventTicketUpdated,
		Origin: domain.Origin{Actor: "api_key:key_1", Depth: 1}, OccurredAt: at, Ticket: after, Previous: &before, Changes: domain.Diff(&before, &after)}
}

func messageCreated() *domain.TicketEvent {
	ev := updated()
	ev.Type, ev.Changes, ev.Previous = domain.EventMessageCreated, map[string]domain.FieldChange{}, &ev.Ticket
	ev.Message = &domain.Message{ID: "msg_1", Role: "user", Content: "Any news?", Channel: "chat", ExternalMessageID: "wa-1", CreatedAt: at}
	return ev
}

func created() *domain.TicketEvent {
	ev := updated()
	ev.Type, ev.Previous = domain.EventTicketCreated, nil
	ev.Changes = domain.Diff(nil, &ev.Ticket)
	return ev
}

func match(t *testing.T, cond string, ev *domain.TicketEvent) bool {
	t.Helper()
	c, err := Compile(domain.Rule{Condition: cond})
	if err != nil {
		t.Fatalf("%s: %v", cond, err)
	}
	ok, err := matches(c, NewEnv(ev))
	if err != nil {
		t.Fatalf("%s: %v", cond, err)
	}
	return ok
}

// TestEnvironment: every field and helper conditions can read.
func TestEnvironment(t *testing.T) {
	for _, tc := range []struct {
		cond string
		ev   func() *domain.TicketEvent
		want bool
	}{
		{`ticket.priority == "urgent" && "vip" in ticket.tags`, updated, true},
		{`changed("status") && ticket.status == "solved"`, updated, false},
		{`ticket.ticket_id == "tkt_1" && ticket.tenant_id == "ten_1"`, updated, true},
		{`ticket.subject contains "42" && ticket.channel == "email" && ticket.status == "open"`, updated, true},
		{`ticket.message_count == 2 && len(ticket.tags) == 2`, updated, true},
		{`ticket.created_at < ticket.updated_at && ticket.last_message_at < event.occurred_at`, updated, true},
		{`ticket.contact.email endsWith "@example.com" && ticket.contact.name == "Ada" && ticket.contact.phone == ""`, updated, true},
		{`previous != nil && previous.priority == "normal" && !("vip" in previous.tags)`, updated, true},
		{`previous == nil`, created, true},
		{`changes.priority.from == "normal" && changes.priority.to == "urgent"`, updated, true},
		{`"vip" in changes.tags.to && !("vip" in changes.tags.from)`, updated, true},
		{`"status" in changes`, updated, false},
		{`changed("priority") && !changed("subject") && !changed("contact")`, updated, true},
		{`changed_to("priority", "urgent") && changed_from("priority", "normal") && !changed_to("priority", "low")`, updated, true},
		{`has_tag("vip") && !has_tag("spam")`, updated, true},
		{`event.type == "ticket.updated" && event.actor == "api_key:key_1" && event.depth == 1`, updated, true},
		{`message == nil`, updated, true},
		{`event.type == "message.created" && message.role == "user" && message.content contains "news"`, messageCreated, true},
		{`message.channel == "chat" && message.external_message_id == "wa-1" && message.message_id == "msg_1" && message.created_at == event.occurred_at`, messageCreated, true},
		{`!changed("priority")`, messageCreated, true},
		{`changed("status") && changes.status.from == nil && changes.status.to == "open"`, created, true},
		{`changes.contact.to.email == "ada@example.com"`, created, true},
		{`event.type == "ticket.created"`, created, true},
		{`any(ticket.tags, # startsWith "ret")`, updated, true},
	} {
		if got := match(t, tc.cond, tc.ev()); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.cond, got, tc.want)
		}
	}
}

func TestCompileErrorsCarryLineAndColumn(t *testing.T) {
	for _, tc := range []struct{ cond, want string }{
		{`ticket.priority == "urgent" &&`, "line 1, column"},
		{"ticket.status == \"open\" &&\n  ticket.nonsense", "line 2, column 10"},
		{`foo == 1`, "unknown name foo"},
		{`ticket.priority`, "must be a boolean expression"},
		{`repeat("x", 1000000000) == ""`, "does not compile"},
		{strings.Repeat(`ticket.status == "open" && `, 150) + "true", "does not compile"},
	} {
		_, err := CompileCondition("condition", tc.cond)
		de, ok := err.(*domain.Error)
		if !ok || de.Code != domain.EINVALID || de.Param != "condition" || !strings.Contains(de.Message, tc.want) {
			t.Errorf("%.40q: %v, want an invalid error with %q", tc.cond, err, tc.want)
		}
	}
}

func TestTemplates(t *testing.T) {
	env := NewEnv(updated())
	for _, tc := range []struct {
		name, src string
		mode      Mode
		want      string
	}{
		{"json string", `{"ticket": "{{ ticket.ticket_id }}", "subject": "{{ ticket.subject }}"}`, JSON, `{"ticket": "tkt_1", "subject": "Order \"42\" late"}`},
		{"json value", `{"tags": {{ ticket.tags }}, "n": {{ ticket.message_count }}, "urgent": {{ ticket.priority == "urgent" }}}`, JSON, `{"tags": ["returns","vip"], "n": 2, "urgent": true}`},
		{"json time", `{"at": "{{ event.occurred_at }}"}`, JSON, `{"at": "2026-11-22T09:30:00Z"}`},
		{"json escaped quote before", `{"a": "x\"{{ ticket.status }}"}`, JSON, `{"a": "x\"open"}`},
		{"url", `/hooks/{{ ticket.subject }}?t={{ ticket.ticket_id }}`, URL, `/hooks/Order%20%2242%22%20late?t=tkt_1`},
		{"plain", `Escalated: {{ ticket.subject }} ({{ ticket.priority }})`, Plain, `Escalated: Order "42" late (urgent)`},
		{"no template", `static`, Plain, `static`},
	} {
		tpl, err := CompileTemplate("x", tc.src, tc.mode)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := tpl.Render(env)
		if err != nil || got != tc.want {
			t.Errorf("%s: %q %v, want %q", tc.name, got, err, tc.want)
		}
	}
	for name, src := range map[string]string{
		"unclosed":        `{"a": "{{ ticket.status "}`,
		"bad expression":  `{"a": "{{ ticket.nope }}"}`,
		"not JSON filled": `{"a": {{ ticket.status }}`,
	} {
		if _, err := CompileTemplate("body_json", src, JSON); err == nil {
			t.Errorf("%s: compiled", name)
		}
	}
	tpl, _ := CompileTemplate("h", `{{ ticket.subject + "\r\nX-Evil: 1" }}`, Plain)
	if _, err := tpl.Render(env); err == nil {
		t.Error("a header value with CRLF rendered")
	}
}

func TestRenderAutomation(t *testing.T) {
	urgent := "urgent"
	a := &domain.Automation{ID: "aut_1", Version: 1, Condition: `true`, Actions: []domain.AutomationAction{
		{Type: "custom_http", Method: "POST", URL: "/hooks/{{ ticket.ticket_id }}", Headers: map[string]string{"X-Ticket": "{{ ticket.ticket_id }}"},
			BodyJSON: `{"ticket": "{{ ticket.ticket_id }}"}`},
		{Type: "set_fields", Priority: &urgent, AddTags: []string{"escalated"}},
		{Type: "add_note", Content: "Escalated by rule: {{ ticket.subject }}"},
	}}
	c, err := Compile(a.Rule())
	if err != nil {
		t.Fatal(err)
	}
	r := c.renderActions(NewEnv(updated()))
	if r[0].Err != nil || r[0].HTTP.URL != "/hooks/tkt_1" || r[0].HTTP.Headers["X-Ticket"] != "tkt_1" || r[0].HTTP.BodyJSON != `{"ticket": "tkt_1"}` {
		t.Errorf("custom_http: %+v", r[0])
	}
	if r[2].Content != `Escalated by rule: Order "42" late` {
		t.Errorf("note: %q", r[2].Content)
	}
	var cache Cache
	c1, _ := cache.Get(a.Rule())
	c2, _ := cache.Get(a.Rule())
	b := *a
	b.Version = 2
	c3, _ := cache.Get(b.Rule())
	if c1 != c2 || c1 == c3 {
		t.Error("the cache does not key on (id, version)")
	}
}

// BenchmarkEvaluate evaluates N enabled automations with typical conditions against one
// event, programs compiled once: ns/op divided by N is the cost per automation.
func BenchmarkEvaluate(b *testing.B) {
	conds := []string{
		`ticket.priority == "urgent" && "vip" in ticket.tags`,
		`changed("status") && ticket.status == "solved"`,
		`ticket.channel == "email" && has_tag("returns") && !changed("subject")`,
		`event.type == "ticket.updated" && changed_to("priority", "high")`,
	}
	ev := updated()
	for _, n := range []int{1, 100, 1000} {
		compiled := make([]*Compiled, n)
		for i := range compiled {
			c, err := Compile(domain.Rule{ID: fmt.Sprint(i), Condition: conds[i%len(conds)]})
			if err != nil {
				b.Fatal(err)
			}
			compiled[i] = c
		}
		b.Run(fmt.Sprintf("automations=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var machine vm.VM
			for b.Loop() {
				env := NewEnv(ev)
				for _, c := range compiled {
					if _, err := c.matchOn(&machine, env); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/automation")
		})
	}
}

// TestURLTemplatesEscapePerComponent: a value cannot add path segments, start or split the
// query, add parameters or start a fragment.
func TestURLTemplatesEscapePerComponent(t *testing.T) {
	ev := updated()
	ev.Ticket.Subject = "a&b=c+d#e;f/g?h i%"
	env := NewEnv(ev)
	for _, tc := range []struct {
		name, src, want string
	}{
		{"path", `/hooks/{{ ticket.subject }}`, `/hooks/a&b=c+d%23e%3Bf%2Fg%3Fh%20i%25`},
		{"query value", `/hooks?q={{ ticket.subject }}&t=1`, `/hooks?q=a%26b%3Dc%2Bd%23e%3Bf%2Fg%3Fh+i%25&t=1`},
		{"query name", `/hooks?{{ ticket.subject }}=1`, `/hooks?a%26b%3Dc%2Bd%23e%3Bf%2Fg%3Fh+i%25=1`},
		{"path then query", `/h/{{ ticket.subject }}?q={{ ticket.subject }}`, `/h/a&b=c+d%23e%3Bf%2Fg%3Fh%20i%25?q=a%26b%3Dc%2Bd%23e%3Bf%2Fg%3Fh+i%25`},
		{"fragment", `/h#{{ ticket.subject }}`, `/h#a%26b%3Dc%2Bd%23e%3Bf%2Fg%3Fh+i%25`},
	} {
		tpl, err := CompileTemplate("url", tc.src, URL)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := tpl.Render(env)
		if err != nil || got != tc.want {
			t.Errorf("%s: %q %v, want %q", tc.name, got, err, tc.want)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if q := u.Query(); q.Has("b") || q.Has("c") || len(q) > 2 {
			t.Errorf("%s: the value added parameters: %v", tc.name, q)
		}
	}
}
