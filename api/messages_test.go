package main

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
)

func TestMessages(t *testing.T) {
	e := newTestEnv(t)
	_, key := e.tenantWithKey()
	tk := e.mustTicket(key, map[string]any{"subject": "s", "channel": "chat", "initial_message": map[string]any{"content": "first"}})
	id := tk.Ticket.Summary.TicketID
	path := "/api/v1/public/tickets/" + id + "/messages"

	resp := e.do(req{method: "POST", path: path, key: key, body: map[string]any{"role": "agent", "content": "Hello! How can I help?"}})
	if resp.Status != http.StatusCreated {
		t.Fatalf("add: %d %s", resp.Status, resp.Body)
	}
	var added struct{ Message messageJSON }
	resp.decode(t, &added)
	if m := added.Message; m.Role != "agent" || m.Channel != "chat" || m.TicketID != id || m.Content != "Hello! How can I help?" {
		t.Errorf("added %+v; want role agent, the ticket's channel", m)
	}
	// Content is kept verbatim, surrounding whitespace and newlines included.
	verbatim := "  line one\nline two\n"
	resp = e.do(req{method: "POST", path: path, key: key, body: map[string]any{"content": verbatim, "channel": "email", "role": "note"}})
	resp.decode(t, &added)
	if added.Message.Content != verbatim || added.Message.Channel != "email" || added.Message.Role != "note" {
		t.Errorf("added %+v", added.Message)
	}
	for i := 0; i < 5; i++ {
		e.do(req{method: "POST", path: path, key: key, body: map[string]any{"content": fmt.Sprintf("m%d", i)}})
	}

	// Oldest first, across pages of 3.
	var contents []string
	token := ""
	for {
		p := path + "?limit=3"
		if token != "" {
			p += "&page_token=" + url.QueryEscape(token)
		}
		var page listJSON[messageJSON]
		e.do(req{method: "GET", path: p, key: key}).decode(t, &page)
		for _, m := range page.Items {
			contents = append(contents, m.Content)
		}
		if page.NextPageToken == "" {
			if len(page.Items) == 0 {
				t.Error("a page token led to an empty last page")
			}
			break
		}
		token = page.NextPageToken
	}
	want := []string{"first", "Hello! How can I help?", verbatim, "m0", "m1", "m2", "m3", "m4"}
	if fmt.Sprint(contents) != fmt.Sprint(want) {
		t.Errorf("messages %q, want %q", contents, want)
	}

	var got ticketJSON
	e.do(req{method: "GET", path: "/api/v1/public/tickets/" + id, key: key}).decode(t, &got)
	if got.Ticket.Summary.MessageCount != 8 || len(got.Ticket.Messages) != 8 || got.Ticket.HasMoreMessages {
		t.Errorf("ticket: count %d, %d messages, has_more %v", got.Ticket.Summary.MessageCount, len(got.Ticket.Messages), got.Ticket.HasMoreMessages)
	}

	for _, tc := range []struct {
		name  string
		body  any
		param string
	}{
		{"missing content", map[string]any{"role": "user"}, "content"},
		{"bad role", map[string]any{"content": "c", "role": "customer"}, "role"},
		{"bad channel", map[string]any{"content": "c", "channel": "telegram"}, "channel"},
		{"unknown field", map[string]any{"content": "c", "author": "me"}, "author"},
		{"content not a string", map[string]any{"content": []int{1}}, "content"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do(req{method: "POST", path: path, key: key, body: tc.body}), http.StatusBadRequest, "invalid_request_error", tc.param)
		})
	}
	wantError(t, e.do(req{method: "POST", path: "/api/v1/public/tickets/tkt_00000000000000000000000000/messages", key: key, body: map[string]any{"content": "c"}}),
		http.StatusNotFound, "not_found_error", "")
	wantError(t, e.do(req{method: "GET", path: "/api/v1/public/tickets/tkt_00000000000000000000000000/messages", key: key}),
		http.StatusNotFound, "not_found_error", "")
}

func TestGetTicketCarriesTheLatestHundredMessages(t *testing.T) {
	e := newTestEnv(t)
	_, key := e.tenantWithKey()
	id := e.mustTicket(key, map[string]any{"subject": "long thread"}).Ticket.Summary.TicketID
	for i := 0; i < 105; i++ {
		resp := e.do(req{method: "POST", path: "/api/v1/public/tickets/" + id + "/messages", key: key, body: map[string]any{"content": fmt.Sprintf("m%03d", i)}})
		if resp.Status != http.StatusCreated {
			t.Fatalf("add: %d", resp.Status)
		}
	}
	var got ticketJSON
	e.do(req{method: "GET", path: "/api/v1/public/tickets/" + id, key: key}).decode(t, &got)
	msgs := got.Ticket.Messages
	if len(msgs) != 100 || !got.Ticket.HasMoreMessages || got.Ticket.Summary.MessageCount != 105 {
		t.Fatalf("%d messages, has_more %v, count %d", len(msgs), got.Ticket.HasMoreMessages, got.Ticket.Summary.MessageCount)
	}
	if msgs[0].Content != "m005" || msgs[99].Content != "m104" {
		t.Errorf("window %s..%s, want m005..m104 oldest first", msgs[0].Content, msgs[99].Content)
	}
}

// TestExternalMessageIDUnderConcurrentRetries: ten copies of one message race; one row.
func TestExternalMessageIDUnderConcurrentRetries(t *testing.T) {
	e := newTestEnv(t)
	_, key := e.tenantWithKey()
	id := e.mustTicket(key, map[string]any{"subject": "s"}).Ticket.Summary.TicketID
	path := "/api/v1/public/tickets/" + id + "/messages"
	body := map[string]any{"content": "from the webhook", "external_message_id": "wamid.HBgM123"}

	var wg sync.WaitGroup
	statuses := make([]int, 10)
	ids := make([]string, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := doValidated(t, e.app, req{method: "POST", path: path, key: key, body: body})
			statuses[i] = resp.Status
			var m struct{ Message messageJSON }
			resp.decode(t, &m)
			ids[i] = m.Message.MessageID
		}()
	}
	wg.Wait()
	created := 0
	for i, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusOK:
		default:
			t.Errorf("copy %d: status %d", i, s)
		}
		if ids[i] != ids[0] {
			t.Errorf("copy %d got message %s, copy 0 got %s", i, ids[i], ids[0])
		}
	}
	if created != 1 {
		t.Errorf("%d copies answered 201, want exactly 1", created)
	}
	var page listJSON[messageJSON]
	e.do(req{method: "GET", path: path, key: key}).decode(t, &page)
	if len(page.Items) != 1 {
		t.Errorf("%d messages stored, want 1", len(page.Items))
	}
	var tk ticketJSON
	e.do(req{method: "GET", path: "/api/v1/public/tickets/" + id, key: key}).decode(t, &tk)
	if tk.Ticket.Summary.MessageCount != 1 {
		t.Errorf("message_count %d, want 1", tk.Ticket.Summary.MessageCount)
	}

	// The same external id on another ticket is another message.
	other := e.mustTicket(key, map[string]any{"subject": "other"}).Ticket.Summary.TicketID
	resp := e.do(req{method: "POST", path: "/api/v1/public/tickets/" + other + "/messages", key: key, body: body})
	if resp.Status != http.StatusCreated {
		t.Errorf("same external id on another ticket: %d", resp.Status)
	}
}
