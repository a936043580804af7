package main

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var rfc3339Z = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

// referenceCreate is the reference's "create a ticket" request body.
var referenceCreate = map[string]any{
	"subject":  "SUBJECT",
	"priority": "normal",
	"channel":  "email",
	"contact":  map[string]any{"name": "CUSTOMER_NAME", "email": "customer@example.com"},
	"tags":     []string{"returns"},
	"initial_message": map[string]any{
		"role": "user", "content": "MESSAGE_BODY", "external_message_id": "EXT_MSG_ID",
	},
}

func TestCreateTicketAsInTheReference(t *testing.T) {
	e := newTestEnv(t)
	tenant, key := e.tenantWithKey()

	got := e.mustTicket(key, referenceCreate)
	s := got.Ticket.Summary
	if !strings.HasPrefix(s.TicketID, "tkt_") || s.TenantID != tenant {
		t.Errorf("ids: ticket %q tenant %q, want tkt_... and %q", s.TicketID, s.TenantID, tenant)
	}
	if s.Subject != "SUBJECT" || s.Status != "open" || s.Priority != "normal" || s.Channel != "email" || !slices.Equal(s.Tags, []string{"returns"}) {
		t.Errorf("summary %+v does not echo the request", s)
	}
	for name, v := range map[string]string{"created_at": s.CreatedAt, "updated_at": s.UpdatedAt, "last_message_at": s.LastMessageAt} {
		if !rfc3339Z.MatchString(v) {
			t.Errorf("%s = %q, want RFC 3339 UTC with Z", name, v)
		}
	}
	if c := got.Ticket.Contact; c == nil || c.Name != "CUSTOMER_NAME" || c.Email != "customer@example.com" {
		t.Errorf("contact %+v", c)
	}
	if len(got.Ticket.Messages) != 1 || s.MessageCount != 1 {
		t.Fatalf("messages %+v, count %d; want the initial message", got.Ticket.Messages, s.MessageCount)
	}
	m := got.Ticket.Messages[0]
	if !strings.HasPrefix(m.MessageID, "msg_") || m.Role != "user" || m.Content != "MESSAGE_BODY" || m.Channel != "email" || !rfc3339Z.MatchString(m.CreatedAt) {
		t.Errorf("message %+v", m)
	}

	// GET answers the same shape and content as the create response.
	resp := e.do(req{method: "GET", path: "/api/v1/public/tickets/" + s.TicketID, key: key})
	var fetched ticketJSON
	resp.decode(t, &fetched)
	if !reflect.DeepEqual(fetched, got) {
		t.Errorf("GET differs from create:\n%+v\n%+v", fetched, got)
	}

	// The list item carries the reference's list fields.
	var list map[string][]map[string]any
	e.do(req{method: "GET", path: "/api/v1/public/tickets?limit=25", key: key}).decode(t, &list)
	for _, field := range []string{"ticket_id", "tenant_id", "subject", "status", "priority", "channel", "tags", "last_message_at"} {
		if _, ok := list["items"][0][field]; !ok {
			t.Errorf("list item lacks %q: %v", field, list["items"][0])
		}
	}
}

func TestCreateTicketDefaults(t *testing.T) {
	e := newTestEnv(t)
	_, key := e.tenantWithKey()
	got := e.mustTicket(key, map[string]any{"subject": "  Where is my order?  "})
	s := got.Ticket.Summary
	if s.Subject != "Where is my order?" || s.Status != "open" || s.Priority != "normal" || s.Channel != "api" || s.Tags == nil || len(s.Tags) != 0 {
		t.Errorf("defaults: %+v", s)
	}
	if got.Ticket.Contact != nil || len(got.Ticket.Messages) != 0 || s.MessageCount != 0 {
		t.Errorf("contact %+v messages %+v", got.Ticket.Contact, got.Ticket.Messages)
	}
	if s.LastMessageAt != s.CreatedAt {
		t.Errorf("last_message_at %s, want created_at %s for a ticket without messages", s.LastMessageAt, s.CreatedAt)
	}

	// The initial message's role defaults to user, its channel to the ticket's.
	got = e.mustTicket(key, map[string]any{"subject": "s", "channel": "sms", "initial_message": map[string]any{"content": "hi"}})
	if m := got.Ticket.Messages[0]; m.Role != "user" || m.Channel != "sms" {
		t.Errorf("initial message defaults: %+v", m)
	}
}

func TestCreateTicketRefusesBadInput(t *testing.T) {
	e := newTestEnv(t)
	_, key := e.tenantWithKey()
	long := strings.Repeat("x", 501)
	tags21 := make([]string, 21)
	for i := range tags21 {
		tags21[i] = fmt.Sprintf("t%d", i)
	}
	cases := []struct {
		name  string
		body  any
		param string
	}{
		{"missing subject", map[string]any{}, "subject"},
		{"blank subject", map[string]any{"subject": "   "}, "subject"},
		{"subject too long", map[string]any{"subject": long}, "subject"},
		{"subject not a string", map[string]any{"subject": 5}, "subject"},
		{"subject with a newline", map[string]any{"subject": "a\nb"}, "subject"},
		{"NUL in subject", map[string]any{"subject": "a\x00b"}, "subject"},
		{"bad status", map[string]any{"subject": "s", "status": "done"}, "status"},
		{"bad priority", map[string]any{"subject": "s", "priority": "p1"}, "priority"},
		{"bad channel", map[string]any{"subject": "s", "channel": "fax"}, "channel"},
		{"tags not an array", map[string]any{"subject": "s", "tags": "vip"}, "tags"},
		{"too many tags", map[string]any{"subject": "s", "tags": tags21}, "tags"},
		{"tag with a space", map[string]any{"subject": "s", "tags": []string{"a b"}}, "tags[0]"},
		{"tag too long", map[string]any{"subject": "s", "tags": []string{strings.Repeat("t", 51)}}, "tags[0]"},
		{"bad email", map[string]any{"subject": "s", "contact": map[string]any{"email": "not-an-email"}}, "contact.email"},
		{"email with a display name", map[string]any{"subject": "s", "contact": map[string]any{"email": "Bob <bob@example.com>"}}, "contact.email"},
		{"bad phone", map[string]any{"subject": "s", "contact": map[string]any{"phone": "555-1234"}}, "contact.phone"},
		{"contact not an object", map[string]any{"subject": "s", "contact": "bob"}, "contact"},
		{"unknown field", map[string]any{"subject": "s", "assignee": "bob"}, "assignee"},
		{"unknown contact field", map[string]any{"subject": "s", "contact": map[string]any{"twitter": "@bob"}}, "contact.twitter"},
		{"blank initial content", map[string]any{"subject": "s", "initial_message": map[string]any{"content": " "}}, "initial_message.content"},
		{"bad initial role", map[string]any{"subject": "s", "initial_message": map[string]any{"content": "c", "role": "bot"}}, "initial_message.role"},
		{"initial content too long", map[string]any{"subject": "s", "initial_message": map[string]any{"content": strings.Repeat("y", 65537)}}, "initial_message.content"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do(req{method: "POST", path: "/api/v1/public/tickets", key: key, body: tc.body})
			wantError(t, resp, http.StatusBadRequest, "invalid_request_error", tc.param)
		})
	}
	for _, tc := range []struct{ name, body string }{
		{"malformed JSON", `{"subject": "s"`},
		{"not an object", `["subject"]`},
		{"null body", `null`},
		{"two objects", `{"subject": "a"} {"subject": "b"}`},
		{"empty body", ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do(req{method: "POST", path: "/api/v1/public/tickets", key: key, body: []byte(tc.body),
				header: map[string]string{"Content-Type": "application/json"}})
			wantError(t, resp, http.StatusBadRequest, "invalid_request_error", "")
		})
	}
	// Nothing was created by any of it.
	var list listJSON[map[string]any]
	e.do(req{method: "GET", path: "/api/v1/public/tickets", key: key}).decode(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("bad requests created %d tickets", len(list.Items))
	}
}

func TestUpdateTicket(t *testing.T) {
	e := newTestEnv(t)
	_, key := e.tenantWithKey()
	created := e.mustTicket(key, referenceCreate)
	path := "/api/v1/public/tickets/" + created.Ticket.Summary.TicketID
	patch := func(body any) *response {
		return e.do(req{method: "PATCH", path: path, key: key, body: body})
	}

	time.Sleep(1100 * time.Millisecond) // so updated_at, to the second, visibly moves
	resp := patch(map[string]any{"status": "pending", "priority": "urgent", "tags": []string{"vip", "returns", "vip"}})
	if resp.Status != http.StatusOK {
		t.Fatalf("patch: %d %s", resp.Status, resp.Body)
	}
	var got ticketJSON
	resp.decode(t, &got)
	s := got.Ticket.Summary
	if s.Status != "pending" || s.Priority != "urgent" || !slices.Equal(s.Tags, []string{"vip", "returns"}) || s.Subject != "SUBJECT" || s.Channel != "email" {
		t.Errorf("after patch: %+v", s)
	}
	if s.UpdatedAt == created.Ticket.Summary.UpdatedAt {
		t.Errorf("updated_at did not move")
	}
	if got.Ticket.Contact == nil || len(got.Ticket.Messages) != 1 {
		t.Errorf("patch touched contact or messages: %+v", got.Ticket)
	}

	// Replacing and removing the contact.
	got = ticketJSON{}
	patch(map[string]any{"contact": map[string]any{"name": "New Name"}}).decode(t, &got)
	if c := got.Ticket.Contact; c == nil || c.Name != "New Name" || c.Email != "" {
		t.Errorf("contact after replace: %+v", c)
	}
	got = ticketJSON{}
	patch(map[string]any{"contact": nil}).decode(t, &got)
	if got.Ticket.Contact != nil {
		t.Errorf("contact after null: %+v", got.Ticket.Contact)
	}

	// An empty patch is a no-op that answers the ticket.
	before := got
	got = ticketJSON{}
	resp = patch(map[string]any{})
	resp.decode(t, &got)
	if resp.Status != http.StatusOK || !reflect.DeepEqual(got, before) {
		t.Errorf("empty patch: %d %+v", resp.Status, got)
	}

	for _, tc := range []struct {
		name  string
		body  any
		param string
	}{
		{"null subject", map[string]any{"subject": nil}, "subject"},
		{"blank subject", map[string]any{"subject": ""}, "subject"},
		{"null tags", map[string]any{"tags": nil}, "tags"},
		{"bad status", map[string]any{"status": "archived"}, "status"},
		{"status not a string", map[string]any{"status": 3}, "status"},
		{"bad contact email", map[string]any{"contact": map[string]any{"email": "x@"}}, "contact.email"},
		{"unknown contact field", map[string]any{"contact": map[string]any{"company": "ACME"}}, "contact.company"},
		{"unknown field", map[string]any{"channel": "chat"}, "channel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, patch(tc.body), http.StatusBadRequest, "invalid_request_error", tc.param)
		})
	}
	var after ticketJSON
	e.do(req{method: "GET", path: path, key: key}).decode(t, &after)
	if !reflect.DeepEqual(after, before) {
		t.Errorf("refused patches changed the ticket:\n%+v\n%+v", after, before)
	}

	wantError(t, e.do(req{method: "PATCH", path: "/api/v1/public/tickets/tkt_00000000000000000000000000", key: key, body: map[string]any{"status": "open"}}),
		http.StatusNotFound, "not_found_error", "")
	wantError(t, e.do(req{method: "PATCH", path: "/api/v1/public/tickets/nonsense", key: key, body: map[string]any{"status": "open"}}),
		http.StatusNotFound, "not_found_error", "")
}

func TestListTicketsFiltersAndOrder(t *testing.T) {
	e := newTestEnv(t)
	_, key := e.tenantWithKey()
	a := e.mustTicket(key, map[string]any{"subject": "a", "status": "pending", "priority": "high", "channel": "chat", "tags": []string{"vip"}})
	b := e.mustTicket(key, map[string]any{"subject": "b", "channel": "email", "tags": []string{"returns"}})
	c := e.mustTicket(key, map[string]any{"subject": "c", "priority": "high", "channel": "email", "tags": []string{"vip", "returns"}})

	ids := func(query string) []string {
		t.Helper()
		var l listJSON[struct {
			TicketID string `json:"ticket_id"`
		}]
		resp := e.do(req{method: "GET", path: "/api/v1/public/tickets" + query, key: key})
		if resp.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", query, resp.Status, resp.Body)
		}
		resp.decode(t, &l)
		var out []string
		for _, it := range l.Items {
			out = append(out, it.TicketID)
		}
		return out
	}
	A, B, C := a.Ticket.Summary.TicketID, b.Ticket.Summary.TicketID, c.Ticket.Summary.TicketID
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{C, B, A}},
		{"?status=pending", []string{A}},
		{"?status=open", []string{C, B}},
		{"?priority=high", []string{C, A}},
		{"?channel=email", []string{C, B}},
		{"?tag=vip", []string{C, A}},
		{"?tag=returns&priority=high", []string{C}},
		{"?tag=nothing", nil},
	} {
		if got := ids(tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %v, want %v", tc.query, got, tc.want)
		}
	}

	// A new message moves its ticket to the front.
	resp := e.do(req{method: "POST", path: "/api/v1/public/tickets/" + A + "/messages", key: key, body: map[string]any{"content": "ping"}})
	if resp.Status != http.StatusCreated {
		t.Fatalf("add message: %d %s", resp.Status, resp.Body)
	}
	if got := ids(""); !slices.Equal(got, []string{A, C, B}) {
		t.Errorf("after a message on a: %v, want a first", got)
	}
}

func TestListParametersAreChecked(t *testing.T) {
	e := newTestEnv(t)
	_, key := e.tenantWithKey()
	tk := e.mustTicket(key, map[string]any{"subject": "s"})
	e.mustTicket(key, map[string]any{"subject": "s2", "status": "pending"})
	var page listJSON[map[string]any]
	e.do(req{method: "GET", path: "/api/v1/public/tickets?limit=1", key: key}).decode(t, &page)
	if page.NextPageToken == "" {
		t.Fatal("no next_page_token with more tickets left")
	}
	for _, tc := range []struct{ query, param string }{
		{"limit=0", "limit"},
		{"limit=101", "limit"},
		{"limit=ten", "limit"},
		{"limit=-1", "limit"},
		{"page_token=garbage", "page_token"},
		{"page_token=" + url.QueryEscape(page.NextPageToken) + "&status=pending", "page_token"},
		{"status=done", "status"},
		{"priority=p0", "priority"},
		{"channel=pigeon", "channel"},
		{"stauts=open", "stauts"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			resp := e.do(req{method: "GET", path: "/api/v1/public/tickets?" + tc.query, key: key})
			wantError(t, resp, http.StatusBadRequest, "invalid_request_error", tc.param)
		})
	}
	msgs := "/api/v1/public/tickets/" + tk.Ticket.Summary.TicketID + "/messages"
	wantError(t, e.do(req{method: "GET", path: msgs + "?limit=500", key: key}), http.StatusBadRequest, "invalid_request_error", "limit")
	wantError(t, e.do(req{method: "GET", path: msgs + "?page_token=" + url.QueryEscape(page.NextPageToken), key: key}), http.StatusBadRequest, "invalid_request_error", "page_token")
}

// TestPaginationWalkWithConcurrentInserts walks every page while other tickets are being
// created: each ticket that existed when the walk began is seen exactly once.
func TestPaginationWalkWithConcurrentInserts(t *testing.T) {
	e := newTestEnv(t)
	_, key := e.tenantWithKey()
	existing := map[string]bool{}
	for i := 0; i < 300; i++ {
		existing[e.mustTicket(key, map[string]any{"subject": fmt.Sprintf("t%d", i)}).Ticket.Summary.TicketID] = true
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var inserted sync.Map
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp := doValidated(t, e.app, req{method: "POST", path: "/api/v1/public/tickets", key: key, body: map[string]any{"subject": "new"}})
				if resp.Status != http.StatusCreated {
					t.Errorf("concurrent create: %d", resp.Status)
					return
				}
				var tk ticketJSON
				resp.decode(t, &tk)
				inserted.Store(tk.Ticket.Summary.TicketID, true)
			}
		}()
	}

	seen := map[string]int{}
	token, pages := "", 0
	for {
		path := "/api/v1/public/tickets?limit=7"
		if token != "" {
			path += "&page_token=" + url.QueryEscape(token)
		}
		var page listJSON[struct {
			TicketID string `json:"ticket_id"`
		}]
		resp := e.do(req{method: "GET", path: path, key: key})
		if resp.Status != http.StatusOK {
			t.Fatalf("page %d: %d %s", pages, resp.Status, resp.Body)
		}
		resp.decode(t, &page)
		pages++
		for _, it := range page.Items {
			seen[it.TicketID]++
		}
		if page.NextPageToken == "" {
			break
		}
		token = page.NextPageToken
	}
	close(stop)
	wg.Wait()

	n := 0
	inserted.Range(func(_, _ any) bool { n++; return true })
	if n == 0 {
		t.Fatal("no ticket was created during the walk; the test proves nothing")
	}
	for id, count := range seen {
		if count > 1 {
			t.Errorf("ticket %s seen %d times", id, count)
		}
	}
	for id := range existing {
		if seen[id] != 1 {
			t.Errorf("ticket %s that existed before the walk was seen %d times", id, seen[id])
		}
	}
	t.Logf("walked %d pages while %d tickets were created", pages, n)
}
