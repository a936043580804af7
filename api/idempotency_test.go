package main

import (
	"bytes"
	"net/http"
	"sync"
	"testing"
)

func countTickets(t *testing.T, e *testEnv, key string) int {
	t.Helper()
	var list listJSON[map[string]any]
	e.do(req{method: "GET", path: "/api/v1/public/tickets?limit=100", key: key}).decode(t, &list)
	return len(list.Items)
}

func TestIdempotencyKeyReplaysTheFirstResponse(t *testing.T) {
	e := newTestEnv(t)
	tenant, key := e.tenantWithKey()
	post := func(k string, body any, ikey string) *response {
		return e.do(req{method: "POST", path: "/api/v1/public/tickets", key: k, body: body, header: map[string]string{"Idempotency-Key": ikey}})
	}
	first := post(key, map[string]any{"subject": "once"}, "order-42")
	if first.Status != http.StatusCreated || first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d replayed=%q", first.Status, first.Header.Get("Idempotent-Replayed"))
	}
	again := post(key, map[string]any{"subject": "once"}, "order-42")
	if again.Status != http.StatusCreated || !bytes.Equal(again.Body, first.Body) {
		t.Fatalf("replay: %d %s\nwant %s", again.Status, again.Body, first.Body)
	}
	if again.Header.Get("Idempotent-Replayed") != "true" || again.Header.Get("Original-Request-Id") != first.Header.Get("X-Request-Id") {
		t.Errorf("replay headers: %v", again.Header)
	}
	if n := countTickets(t, e, key); n != 1 {
		t.Errorf("%d tickets after a replay, want 1", n)
	}

	// Same key, different body: refused, nothing created.
	wantError(t, post(key, map[string]any{"subject": "twice"}, "order-42"), http.StatusBadRequest, "idempotency_error", "Idempotency-Key")
	// Same key on another endpoint: refused too.
	tkID := func() string { var tk ticketJSON; first.decode(t, &tk); return tk.Ticket.Summary.TicketID }()
	wantError(t, e.do(req{method: "POST", path: "/api/v1/public/tickets/" + tkID + "/messages", key: key, body: map[string]any{"subject": "once"},
		header: map[string]string{"Idempotency-Key": "order-42"}}), http.StatusBadRequest, "idempotency_error", "")

	// Keys are scoped to the API key that used them: another key may reuse the string.
	other := e.newKey(tenant, "support.write", "support.read")
	if resp := post(other, map[string]any{"subject": "once"}, "order-42"); resp.Status != http.StatusCreated || resp.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("another key's first use: %d replayed=%q", resp.Status, resp.Header.Get("Idempotent-Replayed"))
	}

	// A refused request stores nothing: the key stays free for a corrected retry.
	wantError(t, post(key, map[string]any{"subject": ""}, "order-43"), http.StatusBadRequest, "invalid_request_error", "subject")
	if resp := post(key, map[string]any{"subject": "fixed"}, "order-43"); resp.Status != http.StatusCreated || resp.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("retry after a refused request: %d replayed=%q", resp.Status, resp.Header.Get("Idempotent-Replayed"))
	}

	for name, bad := range map[string]string{"too long": string(bytes.Repeat([]byte("k"), 256)), "with a space": "a b"} {
		t.Run(name, func(t *testing.T) {
			wantError(t, post(key, map[string]any{"subject": "x"}, bad), http.StatusBadRequest, "invalid_request_error", "Idempotency-Key")
		})
	}
}

// TestIdempotencyKeyUnderConcurrency: ten copies race; one ticket, and every answer is the
// stored 201 or a 409 for a copy that arrived while the first was running.
func TestIdempotencyKeyUnderConcurrency(t *testing.T) {
	e := newTestEnv(t)
	_, key := e.tenantWithKey()
	var wg sync.WaitGroup
	resps := make([]*response, 10)
	for i := range resps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resps[i] = doValidated(t, e.app, req{method: "POST", path: "/api/v1/public/tickets", key: key,
				body: map[string]any{"subject": "race", "initial_message": map[string]any{"content": "hi"}}, header: map[string]string{"Idempotency-Key": "race-1"}})
		}()
	}
	wg.Wait()
	var created []byte
	for i, r := range resps {
		switch r.Status {
		case http.StatusCreated:
			if created != nil && !bytes.Equal(created, r.Body) {
				t.Errorf("copy %d: a second, different 201: %s", i, r.Body)
			}
			created = r.Body
		case http.StatusConflict:
			wantError(t, r, http.StatusConflict, "conflict_error", "")
		default:
			t.Errorf("copy %d: %d %s", i, r.Status, r.Body)
		}
	}
	if n := countTickets(t, e, key); n != 1 {
		t.Errorf("%d tickets, want 1", n)
	}
}
