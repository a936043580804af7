package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/threada/threada/internal/auth"
	"github.com/threada/threada/internal/domain"
)

// endpoint is one public operation with the scope it needs.
type endpoint struct {
	method, path string
	scope        string
	body         any
}

func endpoints(ticketID string) []endpoint {
	return []endpoint{
		{"GET", "/api/v1/public/tickets", domain.ScopeSupportRead, nil},
		{"POST", "/api/v1/public/tickets", domain.ScopeSupportWrite, map[string]any{"subject": "s"}},
		{"GET", "/api/v1/public/tickets/" + ticketID, domain.ScopeSupportRead, nil},
		{"PATCH", "/api/v1/public/tickets/" + ticketID, domain.ScopeSupportWrite, map[string]any{"status": "pending"}},
		{"GET", "/api/v1/public/tickets/" + ticketID + "/messages", domain.ScopeSupportRead, nil},
		{"POST", "/api/v1/public/tickets/" + ticketID + "/messages", domain.ScopeSupportWrite, map[string]any{"content": "c"}},
	}
}

func TestEveryEndpointByEveryScope(t *testing.T) {
	e := newTestEnv(t)
	tenant, admin := e.tenantWithKey()
	ticketID := e.mustTicket(admin, map[string]any{"subject": "s"}).Ticket.Summary.TicketID
	keys := map[string]string{}
	for _, scope := range domain.AllScopes {
		keys[scope] = e.newKey(tenant, scope)
	}
	for _, ep := range endpoints(ticketID) {
		for scope, key := range keys {
			t.Run(ep.method+" "+ep.path+" with "+scope, func(t *testing.T) {
				resp := e.do(req{method: ep.method, path: ep.path, key: key, body: ep.body})
				if scope == ep.scope {
					if resp.Status >= 300 {
						t.Fatalf("allowed scope refused: %d %s", resp.Status, resp.Body)
					}
					return
				}
				wantError(t, resp, http.StatusForbidden, "permission_error", "")
				if msg := resp.apiError(t).Message; !strings.Contains(msg, ep.scope) {
					t.Errorf("403 message %q does not name the scope %s", msg, ep.scope)
				}
			})
		}
	}
}

func TestAuthentication(t *testing.T) {
	e := newTestEnv(t)
	tenant, key := e.tenantWithKey()
	ticketID := e.mustTicket(key, map[string]any{"subject": "s"}).Ticket.Summary.TicketID
	revoked := e.newKey(tenant, domain.AllScopes...)
	revokedID, _ := auth.KeyIDFromSecret(revoked)
	if err := e.store.RevokeKey(context.Background(), revokedID); err != nil {
		t.Fatal(err)
	}
	// A secret with a real key id but the wrong random part.
	forged := key[:len(key)-4] + "aaaa"
	if forged == key {
		forged = key[:len(key)-4] + "bbbb"
	}
	for name, k := range map[string]string{
		"missing":      "",
		"malformed":    "not-a-key",
		"unknown":      "thr_06h00000000000000000000000_abcdefghjkmnpqrstvwxyz0123456789abcdefghj",
		"wrong secret": forged,
		"revoked":      revoked,
	} {
		for _, ep := range endpoints(ticketID) {
			t.Run(name+" "+ep.method+" "+ep.path, func(t *testing.T) {
				wantError(t, e.do(req{method: ep.method, path: ep.path, key: k, body: ep.body}), http.StatusUnauthorized, "authentication_error", "")
			})
		}
	}
	if strings.Contains(e.logs.String(), key[len(key)-20:]) {
		t.Error("a key secret reached the logs")
	}
}

// TestTenantIsolation: another tenant's ticket is a 404 on every endpoint, never a 403 and
// never its data, and listings never show it.
func TestTenantIsolation(t *testing.T) {
	e := newTestEnv(t)
	_, keyA := e.tenantWithKey()
	_, keyB := e.tenantWithKey()
	a := e.mustTicket(keyA, map[string]any{"subject": "A's secret subject", "initial_message": map[string]any{"content": "A's secret"}})
	idA := a.Ticket.Summary.TicketID

	for _, ep := range endpoints(idA) {
		if !strings.Contains(ep.path, idA) {
			continue
		}
		t.Run(ep.method+" "+ep.path, func(t *testing.T) {
			resp := e.do(req{method: ep.method, path: ep.path, key: keyB, body: ep.body})
			wantError(t, resp, http.StatusNotFound, "not_found_error", "")
			if strings.Contains(string(resp.Body), "secret") {
				t.Errorf("404 leaks A's data: %s", resp.Body)
			}
		})
	}
	var list listJSON[map[string]any]
	e.do(req{method: "GET", path: "/api/v1/public/tickets", key: keyB}).decode(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("B lists A's tickets: %v", list.Items)
	}
	// B's refused writes changed nothing of A's.
	var got ticketJSON
	e.do(req{method: "GET", path: "/api/v1/public/tickets/" + idA, key: keyA}).decode(t, &got)
	if got.Ticket.Summary.Status != "open" || got.Ticket.Summary.MessageCount != 1 {
		t.Errorf("A's ticket changed: %+v", got.Ticket.Summary)
	}
}
