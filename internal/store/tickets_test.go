package store_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
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

// TestCreateTicketStoresWhatItWasGiven: the create is a prepared statement with its values
// bound as text (tags as an array literal): every value reads back as it was given, tags
// that look like array syntax or NULL included, with and without a contact and a first
// message, and its event holds the same ticket.
func TestCreateTicketStoresWhatItWasGiven(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	tenant := newTenant(t, s)
	odd := []string{`a,b`, `{c}`, `NULL`, `"q"`, `back\slash`, `ünï 🎫`, ``}
	cases := []domain.TicketCreate{
		{Subject: "bare", Status: "open", Priority: "normal", Channel: "api"},
		{Subject: "it's \"all\" here", Status: "pending", Priority: "high", Channel: "email", Tags: odd,
			Contact:        &domain.Contact{Name: "Ada O'Hara", Email: "ada@example.com", Phone: "+1 555"},
			InitialMessage: &domain.MessageCreate{Role: "user", Content: "line\nline $1 ?", Channel: "email", ExternalMessageID: "ext-1"}},
		{Subject: "message only", Status: "open", Priority: "low", Channel: "chat", Tags: []string{"x"},
			InitialMessage: &domain.MessageCreate{Role: "agent", Content: "hi", Channel: "chat"}},
	}
	for _, in := range cases {
		d, err := s.CreateTicket(ctx, tenant, in)
		if err != nil {
			t.Fatalf("%s: %v", in.Subject, err)
		}
		got, err := s.GetTicket(ctx, tenant, d.Ticket.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, d) {
			t.Errorf("%s: stored\n%+v\nreturned\n%+v", in.Subject, got, d)
		}
		want := in.Tags
		if want == nil {
			want = []string{}
		}
		if !slices.Equal(got.Ticket.Tags, want) {
			t.Errorf("%s: tags %q, want %q", in.Subject, got.Ticket.Tags, want)
		}
		evs, err := s.RecentEvents(ctx, tenant, []string{domain.EventTicketCreated}, time.Time{}, nil, 100)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(evs, func(e *domain.TicketEvent) bool { return e.TicketID == d.Ticket.ID })
		if i < 0 {
			t.Fatalf("%s: no ticket.created event", in.Subject)
		}
		if ev := evs[i]; !reflect.DeepEqual(ev.Ticket, d.Ticket) || (len(d.Messages) > 0) != (ev.Message != nil) || ev.Origin.Depth != 1 {
			t.Errorf("%s: event %+v for ticket %+v", in.Subject, ev, d.Ticket)
		}
	}
}

// TestPreparedCreateIsTraced: the prepared create shows in a request's trace like any
// other query, with its statement's placeholders and none of the ticket's values.
func TestPreparedCreateIsTraced(t *testing.T) {
	s := dbtest.New(t)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	s.TraceQueries(tp)
	tenant := newTenant(t, s)
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	if _, err := s.CreateTicket(ctx, tenant, domain.TicketCreate{Subject: "secret subject", Status: "open", Priority: "normal", Channel: "api"}); err != nil {
		t.Fatal(err)
	}
	span.End()
	var statements []string
	for _, sp := range exp.GetSpans() {
		for _, a := range sp.Attributes {
			if a.Key == "db.statement" {
				statements = append(statements, a.Value.AsString())
			}
		}
	}
	if len(statements) != 1 || !strings.Contains(statements[0], "INSERT INTO ticket_events") ||
		!strings.Contains(statements[0], "$23") || strings.Contains(statements[0], "secret") {
		t.Fatalf("query spans: %q", statements)
	}
}

// TestPreparedStatementsStayWithTheirStore: two stores open at once (two databases) each
// write through their own prepared create.
func TestPreparedStatementsStayWithTheirStore(t *testing.T) {
	ctx := context.Background()
	a, b := dbtest.New(t), dbtest.New(t)
	for range 2 {
		for _, s := range []*store.Store{a, b} {
			tenant := newTenant(t, s)
			d, err := s.CreateTicket(ctx, tenant, domain.TicketCreate{Subject: "mine", Status: "open", Priority: "normal", Channel: "api"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetTicket(ctx, tenant, d.Ticket.ID, 1); err != nil {
				t.Fatalf("the ticket is not in its own store's database: %v", err)
			}
		}
	}
}
