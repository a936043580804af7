package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
)

// TestConcurrentTicketChangesLoseNothing: PATCHes and messages racing on one ticket each
// write without a transaction of their own (read, then write if unchanged). None is lost,
// and the events chain: each one's previous ticket is the one before it.
func TestConcurrentTicketChangesLoseNothing(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	tenant := newTenant(t, s)
	d, err := s.CreateTicket(ctx, tenant, domain.TicketCreate{Subject: "hot", Status: "open", Priority: "normal", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	id := d.Ticket.ID
	const writers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				var err error
				if (w+i)%2 == 0 {
					_, err = s.UpdateTicket(ctx, tenant, id, domain.TicketUpdate{AddTags: []string{fmt.Sprintf("w%d-%d", w, i)}})
				} else {
					_, _, err = s.AddMessage(ctx, tenant, id, domain.MessageCreate{Role: "user", Content: "hi", ExternalMessageID: fmt.Sprintf("ext-%d", i)})
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.GetTicket(ctx, tenant, id, 200)
	if err != nil {
		t.Fatal(err)
	}
	tags, messages := 0, map[string]bool{}
	for w := range writers {
		for i := range each {
			if (w+i)%2 == 0 {
				tags++
				if !slices.Contains(got.Ticket.Tags, fmt.Sprintf("w%d-%d", w, i)) {
					t.Errorf("tag w%d-%d was lost", w, i)
				}
			} else {
				messages[fmt.Sprintf("ext-%d", i)] = true
			}
		}
	}
	if len(got.Ticket.Tags) != tags || got.Ticket.MessageCount != len(messages) || len(got.Messages) != len(messages) {
		t.Errorf("%d tags (want %d), message_count %d and %d messages (want %d)", len(got.Ticket.Tags), tags, got.Ticket.MessageCount, len(got.Messages), len(messages))
	}
	var events []struct {
		Payload struct {
			Ticket struct {
				Tags         []string
				MessageCount int
			}
			Previous *struct {
				Tags         []string
				MessageCount int
			}
		} `bun:"payload,type:jsonb"`
	}
	if err := s.DB().NewSelect().Table("ticket_events").Column("payload").Where("ticket_id = ?", id).
		OrderExpr("occurred_at, id").Scan(ctx, &events); err != nil {
		t.Fatal(err)
	}
	if len(events) != 1+tags+len(messages) {
		t.Fatalf("%d events, want %d", len(events), 1+tags+len(messages))
	}
	for i := 1; i < len(events); i++ {
		prev, cur := events[i-1].Payload.Ticket, events[i].Payload.Previous
		if cur == nil || !slices.Equal(prev.Tags, cur.Tags) || prev.MessageCount != cur.MessageCount {
			t.Fatalf("event %d does not follow event %d: previous %+v, before it %+v", i, i-1, cur, prev)
		}
	}
}
