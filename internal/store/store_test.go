package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

func newTenant(t *testing.T, s *store.Store) string {
	t.Helper()
	tn := &domain.Tenant{Name: "t"}
	if err := s.CreateTenant(context.Background(), tn, nil); err != nil {
		t.Fatal(err)
	}
	return tn.ID
}

func TestIdempotentRefusesAKeyStillRunning(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	req := store.IdempotentRequest{TenantID: newTenant(t, s), KeyID: "key_x", Key: "k1", Fingerprint: []byte("fp"), RequestID: "req_1"}

	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, _, err := s.Idempotent(ctx, req, func(*store.Conn) (*store.StoredResponse, error) {
			close(inside)
			<-release
			return &store.StoredResponse{StatusCode: 201, Body: []byte(`{"ok":true}`)}, nil
		})
		done <- err
	}()
	<-inside
	_, _, err := s.Idempotent(ctx, req, func(*store.Conn) (*store.StoredResponse, error) {
		t.Error("ran a second time while the first was running")
		return nil, nil
	})
	if domain.ErrorCode(err) != domain.ECONFLICT {
		t.Errorf("while running: %v, want conflict", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	resp, replayed, err := s.Idempotent(ctx, req, func(*store.Conn) (*store.StoredResponse, error) {
		t.Error("ran again after completing")
		return nil, nil
	})
	if err != nil || !replayed || resp.StatusCode != 201 || string(resp.Body) != `{"ok":true}` || resp.RequestID != "req_1" {
		t.Errorf("replay: %+v %v %v", resp, replayed, err)
	}
}

// TestIdempotentRollsBackWithTheWork: when the guarded work fails, neither it nor the key
// is kept, so the whole request can be retried.
func TestIdempotentRollsBackWithTheWork(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	tenant := newTenant(t, s)
	req := store.IdempotentRequest{TenantID: tenant, KeyID: "key_x", Key: "k1", Fingerprint: []byte("fp")}
	_, _, err := s.Idempotent(ctx, req, func(tx *store.Conn) (*store.StoredResponse, error) {
		if _, err := tx.CreateTicket(ctx, tenant, domain.TicketCreate{Subject: "s", Status: "open", Priority: "normal", Channel: "api"}); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("crash after the insert")
	})
	if err == nil {
		t.Fatal("the failure was swallowed")
	}
	tickets, _, err := s.ListTickets(ctx, tenant, domain.TicketFilter{}, nil, 10)
	if err != nil || len(tickets) != 0 {
		t.Fatalf("the failed request left %d tickets (%v)", len(tickets), err)
	}
	ran := false
	if _, replayed, err := s.Idempotent(ctx, req, func(*store.Conn) (*store.StoredResponse, error) {
		ran = true
		return &store.StoredResponse{StatusCode: 201, Body: []byte("{}")}, nil
	}); err != nil || replayed || !ran {
		t.Errorf("retry: replayed=%v ran=%v err=%v", replayed, ran, err)
	}
}

// TestDeepPagesUseTheIndex checks the plan of a page far down the list: an index range scan
// on the listing order, with no sort and no offset, so page 200 costs what page 1 does.
func TestDeepPagesUseTheIndex(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	tenant := newTenant(t, s)
	other := newTenant(t, s)
	_, err := s.DB().ExecContext(ctx, `
		INSERT INTO tickets (id, tenant_id, subject, status, priority, channel, tags, created_at, updated_at, last_message_at)
		SELECT 'tkt_' || lpad(g::text, 26, '0'), CASE WHEN g % 2 = 0 THEN ? ELSE ? END, 's', 'open', 'normal', 'api', '{}',
		       now(), now(), now() - g * interval '1 second'
		FROM generate_series(1, 20000) g`, tenant, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, "ANALYZE tickets"); err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string]string{
		"first page": `EXPLAIN SELECT * FROM tickets WHERE tenant_id = ? ORDER BY last_message_at DESC, id DESC LIMIT 26`,
		"deep page": `EXPLAIN SELECT * FROM tickets WHERE tenant_id = ? AND (last_message_at, id) < (now() - interval '5000 seconds', 'tkt_z')
			ORDER BY last_message_at DESC, id DESC LIMIT 26`,
	} {
		var plan []string
		if err := s.DB().NewRaw(q, tenant).Scan(ctx, &plan); err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(plan, "\n")
		if !strings.Contains(joined, "Index Scan using tickets_activity") || strings.Contains(joined, "Sort") {
			t.Errorf("%s: the plan does not walk the listing index:\n%s", name, joined)
		}
	}
}

func TestTicketsAndKeysStayWithinTheirTenant(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	a, b := newTenant(t, s), newTenant(t, s)
	d, err := s.CreateTicket(ctx, a, domain.TicketCreate{Subject: "s", Status: "open", Priority: "normal", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	id := d.Ticket.ID
	if _, err := s.GetTicket(ctx, b, id, 10); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Errorf("get across tenants: %v", err)
	}
	st := "closed"
	if _, err := s.UpdateTicket(ctx, b, id, domain.TicketUpdate{Status: &st}); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Errorf("update across tenants: %v", err)
	}
	if _, _, err := s.AddMessage(ctx, b, id, domain.MessageCreate{Role: "user", Content: "c", Channel: "api"}); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Errorf("message across tenants: %v", err)
	}
	if _, _, err := s.ListMessages(ctx, b, id, nil, 10); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Errorf("list messages across tenants: %v", err)
	}
	if err := s.CreateKey(ctx, &domain.APIKey{ID: domain.NewID(domain.PrefixKey), TenantID: "ten_00000000000000000000000000", Name: "k", Scopes: []string{"support.read"}}, []byte("h")); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Errorf("key for an unknown tenant: %v", err)
	}
}

// TestInTxJoinsTheIdempotentTransaction: writes a caller groups with InTx commit together
// whether its Conn is the pool or the transaction of an Idempotency-Key, so a request's
// atomicity does not depend on the client sending one.
func TestInTxJoinsTheIdempotentTransaction(t *testing.T) {
	s := dbtest.New(t)
	ctx := context.Background()
	tenant := newTenant(t, s)
	boom := errors.New("the second write fails")
	group := func(db *store.Conn) error {
		return db.InTx(ctx, func(tx *store.Conn) error {
			if _, err := tx.CreateTicket(ctx, tenant, domain.TicketCreate{Subject: "first", Status: "open", Priority: "normal", Channel: "api"}); err != nil {
				return err
			}
			return boom
		})
	}
	if err := group(&s.Conn); !errors.Is(err, boom) {
		t.Fatalf("on the pool: %v", err)
	}
	req := store.IdempotentRequest{TenantID: tenant, KeyID: "key_x", Key: "k1", Fingerprint: []byte("fp")}
	_, _, err := s.Idempotent(ctx, req, func(tx *store.Conn) (*store.StoredResponse, error) {
		if err := group(tx); err != nil {
			return nil, err
		}
		return &store.StoredResponse{StatusCode: 201, Body: []byte("{}")}, nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("under a key: %v", err)
	}
	if tickets, _, err := s.ListTickets(ctx, tenant, domain.TicketFilter{}, nil, 10); err != nil || len(tickets) != 0 {
		t.Fatalf("%d tickets survived a failed group (%v)", len(tickets), err)
	}
}
