package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/threada/threada/internal/temporaltest"
)

// TestPoolExhaustedAnswers503: when every pooled connection is taken, a request waits at
// most its database bound and answers 503 with Retry-After, never hangs; once connections
// are free again it is served.
func TestPoolExhaustedAnswers503(t *testing.T) {
	e := newTestEnv(t)
	_, key := e.tenantWithKey()
	get := func() *response { return e.do(req{method: "GET", path: "/api/v1/public/tickets", key: key}) }
	if resp := get(); resp.Status != http.StatusOK { // warms the key cache
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
	e.srv.dbTimeout = 300 * time.Millisecond
	var held []interface{ Close() error }
	for range e.store.DB().Stats().MaxOpenConnections {
		conn, err := e.store.DB().Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
	}
	start := time.Now()
	resp := get()
	wantError(t, resp, http.StatusServiceUnavailable, "service_unavailable_error", "")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("answered after %s", d)
	}
	for _, c := range held {
		_ = c.Close()
	}
	if resp := get(); resp.Status != http.StatusOK {
		t.Fatalf("after the pool freed up: %d %s", resp.Status, resp.Body)
	}
}

// TestWaitingCancelsHoldNoConnections: a dozen idempotent cancels that each wait for their
// run to end (no worker runs it, so it never does) hold no pooled connection meanwhile:
// another tenant is served at once, a copy of a waiting cancel gets 409, and each cancel's
// answer is stored for its key.
func TestWaitingCancelsHoldNoConnections(t *testing.T) {
	e := newEnvWithTemporal(t, temporaltest.Shared(t).Addr) // no worker
	e.srv.cancelWait = 3 * time.Second
	f := e.actionFixture("https://hooks.example.com")
	other := e.actionFixture("https://hooks.example.com")
	var ids []string
	for range 12 {
		ids = append(ids, decodeAction(t, e.postAction(f, referenceAction(), nil)).ActionID)
	}
	cancel := func(i int) *response {
		return e.do(req{method: "POST", path: "/api/v1/public/actions/" + ids[i] + "/cancel", key: f.key,
			header: map[string]string{"Idempotency-Key": fmt.Sprint("cancel-", i)}})
	}
	var wg sync.WaitGroup
	answers := make([]*response, len(ids))
	for i := range ids {
		wg.Add(1)
		go func() { defer wg.Done(); answers[i] = cancel(i) }()
	}
	time.Sleep(time.Second) // every cancel is waiting now
	start := time.Now()
	if resp := e.do(req{method: "GET", path: "/api/v1/public/tickets/" + other.ticket, key: other.key}); resp.Status != http.StatusOK {
		t.Fatalf("another tenant's read: %d %s", resp.Status, resp.Body)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("another tenant's read waited %s behind the cancels", d)
	}
	wantError(t, cancel(0), http.StatusConflict, "conflict_error", "")
	wg.Wait()
	for i, resp := range answers {
		if resp.Status != http.StatusOK {
			t.Fatalf("cancel %d: %d %s", i, resp.Status, resp.Body)
		}
	}
	replay := cancel(3)
	if replay.Status != http.StatusOK || replay.Header.Get("Idempotent-Replayed") != "true" || string(replay.Body) != string(answers[3].Body) {
		t.Errorf("replay: %d %q %s", replay.Status, replay.Header.Get("Idempotent-Replayed"), replay.Body)
	}
}

// TestQueryPastTheBoundAnswers503: a statement still running when the request's database
// bound passes (here a PATCH waiting on a row another transaction holds) is given up on,
// and the request answers 503 service_unavailable_error with Retry-After, not a 500; the
// change is not made, not even once the row is free (issue 22).
func TestQueryPastTheBoundAnswers503(t *testing.T) {
	e := newTestEnv(t)
	_, key := e.tenantWithKey()
	created := e.do(req{method: "POST", path: "/api/v1/public/tickets", key: key, body: `{"subject": "held", "channel": "api"}`})
	if created.Status != http.StatusCreated {
		t.Fatalf("%d %s", created.Status, created.Body)
	}
	var tk ticketJSON
	if err := json.Unmarshal(created.Body, &tk); err != nil {
		t.Fatal(err)
	}
	id := tk.Ticket.Summary.TicketID
	tx, err := e.store.DB().BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(context.Background(), "SELECT 1 FROM tickets WHERE id = ? FOR UPDATE", id); err != nil {
		t.Fatal(err)
	}
	e.srv.dbTimeout = 300 * time.Millisecond
	resp := e.do(req{method: "PATCH", path: "/api/v1/public/tickets/" + id, key: key, body: `{"subject": "changed"}`})
	wantError(t, resp, http.StatusServiceUnavailable, "service_unavailable_error", "")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	// PostgreSQL notices within a second that the request gave up, and drops its statement
	// rather than making the change once the lock is free.
	time.Sleep(2 * time.Second)
	_ = tx.Rollback()
	time.Sleep(500 * time.Millisecond) // what a statement still waiting would do by now
	e.srv.dbTimeout = defaultDBTimeout
	got := e.do(req{method: "GET", path: "/api/v1/public/tickets/" + id, key: key})
	if err := json.Unmarshal(got.Body, &tk); err != nil || tk.Ticket.Summary.Subject != "held" {
		t.Fatalf("after the 503: %d %s", got.Status, got.Body)
	}
}
