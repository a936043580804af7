package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// erasedTables are where a person's data can be, each with the tenant's id.
var erasedTables = []string{"tickets", "messages", "ticket_events", "actions", "action_attempts", "automation_runs", "audit_events", "erasures"}

// holding counts, by table, a tenant's rows whose text holds pattern (case-insensitive).
func (e *testEnv) holding(tenantID, pattern string) string {
	e.t.Helper()
	var out []string
	for _, table := range erasedTables {
		n, err := e.store.DB().NewSelect().TableExpr(table+" AS r").Where("r.tenant_id = ? AND r::text ~* ?", tenantID, pattern).Count(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s=%d", table, n))
	}
	n, err := e.store.DB().NewSelect().Table("idempotency_keys").Where("tenant_id = ? AND convert_from(response_body, 'UTF8') ~* ?", tenantID, pattern).Count(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.Join(append(out, fmt.Sprintf("idempotency_keys=%d", n)), " ")
}

// TestEraseAPerson: two tenants hold the same person's address in tickets, messages,
// events, actions' payloads and responses (the receiver echoes what it gets) and a stored
// idempotent response. Erasing it in one tenant, while one of its calls is in flight,
// leaves no trace of it in that tenant's rows once the call has ended (the erasure waits
// for it), keeps a record without it, and changes nothing of the other tenant's or of the
// tenant's other tickets. A second erasure finds nothing.
func TestEraseAPerson(t *testing.T) {
	e, _ := newActionEnv(t)
	rc := newHeldReceiver(t, "/slow") // the echo holds whatever was sent
	a, b := e.actionFixture(rc.URL), e.actionFixture(rc.URL)
	const pattern = `ada\.lovelace@example\.com`
	call := func(path string) map[string]any {
		return map[string]any{"payload": map[string]any{"type": "custom_http", "method": "POST", "url": path,
			"body_json": `{"customer":"ada.lovelace@example.com"}`}}
	}
	var inFlight string
	for _, f := range []actionFixture{a, b} {
		id := e.mustTicket(f.key, map[string]any{"subject": "Order for Ada.Lovelace@example.com", "contact": map[string]any{"name": "Ada", "email": "ada.lovelace@example.com"},
			"initial_message": map[string]any{"content": "Hi, I am ADA.LOVELACE@EXAMPLE.COM"}}).Ticket.Summary.TicketID
		if resp := e.do(req{method: "POST", path: "/api/v1/public/tickets/" + id + "/messages", key: f.key, header: map[string]string{"Idempotency-Key": "m1"},
			body: map[string]any{"role": "agent", "content": "Writing to ada.lovelace@example.com now"}}); resp.Status != http.StatusCreated {
			t.Fatalf("message: %d %s", resp.Status, resp.Body)
		}
		g := actionFixture{tenant: f.tenant, key: f.key, ticket: id}
		if act := decodeAction(t, e.postAction(g, call("/echo"), map[string]string{"Prefer": "wait=20"})); act.Status != "succeeded" {
			t.Fatalf("echo call: %+v", act)
		}
		if f == a {
			inFlight = decodeAction(t, e.postAction(g, call("/slow"), nil)).ActionID
		}
	}
	rc.waitHeld(t, 1)
	otherTicket := e.ticketRows(a.ticket)
	beforeB := e.holding(b.tenant, pattern)
	if !strings.Contains(e.holding(a.tenant, pattern), "messages=2") {
		t.Fatalf("the fixture: %s", e.holding(a.tenant, pattern))
	}

	admin := e.newKey(a.tenant, "admin.settings", "admin.audit")
	wantError(t, e.do(req{method: "POST", path: "/api/v1/admin/erasures", key: admin, body: map[string]any{}}), http.StatusBadRequest, "invalid_request_error", "")
	wantError(t, e.do(req{method: "POST", path: "/api/v1/admin/erasures", key: admin, body: map[string]any{"email": "not an address"}}), http.StatusBadRequest, "invalid_request_error", "email")
	resp := e.do(req{method: "POST", path: "/api/v1/admin/erasures", key: admin, body: map[string]any{"email": "Ada.Lovelace@Example.com"}})
	if resp.Status != http.StatusAccepted {
		t.Fatalf("erasure: %d %s", resp.Status, resp.Body)
	}
	var env struct {
		Erasure struct {
			ID     string           `json:"erasure_id"`
			Status string           `json:"status"`
			Counts map[string]int64 `json:"counts"`
		} `json:"erasure"`
	}
	resp.decode(t, &env)
	if env.Erasure.Status != "running" || strings.Contains(strings.ToLower(string(resp.Body)), "lovelace") {
		t.Fatalf("created: %s", resp.Body)
	}
	step := func() {
		for range 100 {
			stepped, err := e.store.StepErasure(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !stepped {
				return
			}
		}
		t.Fatal("the erasure never stopped stepping")
	}
	get := func() string {
		resp := e.do(req{method: "GET", path: "/api/v1/admin/erasures/" + env.Erasure.ID, key: admin})
		env.Erasure.Counts = nil // decoding into a map merges
		resp.decode(t, &env)
		return env.Erasure.Status
	}
	step()
	if got := get(); got != "waiting" {
		t.Fatalf("with a call in flight: %s", got)
	}
	rc.release()
	for deadline := time.Now().Add(20 * time.Second); e.getAction(a, inFlight, nil).Status != "succeeded"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the slow call never ended")
		}
	}
	step()
	if got := get(); got != "completed" || env.Erasure.Counts["messages"] != 2 || env.Erasure.Counts["actions"] < 2 || env.Erasure.Counts["tickets"] != 1 {
		t.Fatalf("after the call ended: %s %+v", got, env.Erasure)
	}
	clean := "tickets=0 messages=0 ticket_events=0 actions=0 action_attempts=0 automation_runs=0 audit_events=0 erasures=0 idempotency_keys=0"
	if got := e.holding(a.tenant, pattern); got != clean {
		t.Errorf("left in the erased tenant: %s", got)
	}
	if got := e.holding(b.tenant, pattern); got != beforeB {
		t.Errorf("the other tenant's rows changed: %s -> %s", beforeB, got)
	}
	if got := e.ticketRows(a.ticket); got != otherTicket {
		t.Errorf("the tenant's other ticket changed: %d -> %d rows", otherTicket, got)
	}
	var email *string
	if err := e.store.DB().NewSelect().Table("tickets").Column("contact_email").Where("tenant_id = ? AND subject LIKE 'Order for [erased]'", a.tenant).Scan(context.Background(), &email); err != nil || email != nil {
		t.Errorf("the ticket's contact email: %v %v", email, err)
	}
	// Again: nothing left to find.
	resp = e.do(req{method: "POST", path: "/api/v1/admin/erasures", key: admin, body: map[string]any{"email": "ada.lovelace@example.com"}})
	env.Erasure.Counts = nil
	resp.decode(t, &env)
	step()
	if got := get(); got != "completed" || len(env.Erasure.Counts) != 0 {
		t.Errorf("a second erasure: %s %+v", got, env.Erasure)
	}
}
