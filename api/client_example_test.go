package main

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/threada/threada/client"
)

// TestGoClientAgainstTheAPI runs the README's integration example with the Go client
// against the real API: create tickets (a retried POST creates once), walk them page by
// page, add a message, and read an error as *client.APIError.
func TestGoClientAgainstTheAPI(t *testing.T) {
	e := newTestEnv(t)
	_, key := e.tenantWithKey()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.app.Listener(ln) }()
	t.Cleanup(func() { _ = e.app.Shutdown() })
	ctx := context.Background()

	// The README's example, as written there.
	c, err := client.New("http://"+ln.Addr().String(), key, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	priority := client.Urgent
	resp, err := c.CreateTicketWithResponse(ctx, &client.CreateTicketParams{}, client.TicketCreate{
		Subject: "Where is my order?", Priority: &priority,
		InitialMessage: &client.MessageCreate{Content: "Order 42 has not arrived."},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Check(resp.HTTPResponse, resp.Body); err != nil {
		t.Fatal(err)
	}
	ticket := resp.JSON201.Ticket.Summary
	if _, err := c.AddMessageWithResponse(ctx, ticket.TicketId, &client.AddMessageParams{}, client.MessageCreate{Content: "Any news?"}); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if _, err := c.CreateTicketWithResponse(ctx, &client.CreateTicketParams{}, client.TicketCreate{Subject: "more"}); err != nil {
			t.Fatal(err)
		}
	}
	limit := 2
	n := 0
	for tk, err := range c.Tickets(ctx, client.ListTicketsParams{Limit: &limit}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		_ = tk.Subject
	}
	if n != 5 {
		t.Errorf("the iterator walked %d tickets over pages of 2, want 5", n)
	}
	bad, err := c.CreateTicketWithResponse(ctx, &client.CreateTicketParams{}, client.TicketCreate{Subject: ""})
	if err != nil {
		t.Fatal(err)
	}
	var apiErr *client.APIError
	if err := client.Check(bad.HTTPResponse, bad.Body); !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Param != "subject" {
		t.Errorf("error %v", err)
	}
	got, err := c.GetTicketWithResponse(ctx, ticket.TicketId)
	if err != nil || got.JSON200 == nil || len(got.JSON200.Ticket.Messages) != 2 {
		t.Fatalf("ticket %v %s", err, got.Body)
	}
}
