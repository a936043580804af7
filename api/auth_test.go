package main

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/threada/threada/internal/auth"
	"github.com/threada/threada/internal/domain"
)

// endpoint is one public operation with the scopes that may call it.
type endpoint struct {
	method, path string
	scopes       []string
	body         any
}

func endpoints(ticketID, actionID, automationID, spareKeyID string) []endpoint {
	read, write, act, auto := domain.ScopeSupportRead, domain.ScopeSupportWrite, domain.ScopeSupportActions, domain.ScopeAdminAutomations
	keys, settings, audit := domain.ScopeAdminKeys, domain.ScopeAdminSettings, domain.ScopeAdminAudit
	aut := "/api/v1/admin/automations/" + automationID
	spare := "/api/v1/admin/api-keys/" + spareKeyID
	return []endpoint{
		{"GET", "/api/v1/admin/api-keys", []string{keys}, nil},
		{"POST", "/api/v1/admin/api-keys", []string{keys}, map[string]any{"name": "n", "scopes": []string{domain.ScopeAdminKeys}}},
		{"GET", spare, []string{keys}, nil},
		{"POST", spare + "/rotate", []string{keys}, map[string]any{"grace_period_seconds": 60}},
		{"POST", spare + "/revoke", []string{keys}, nil},
		{"GET", "/api/v1/admin/settings", []string{settings}, nil},
		{"PATCH", "/api/v1/admin/settings", []string{settings}, map[string]any{"allowed_hosts": []string{"a.example"}}},
		{"POST", "/api/v1/admin/settings/signing-secret/rotate", []string{settings}, nil},
		{"GET", "/api/v1/admin/audit-events", []string{audit}, nil},
		{"GET", "/api/v1/admin/automations", []string{auto}, nil},
		{"POST", "/api/v1/admin/automations", []string{auto}, exampleAutomation()},
		{"POST", "/api/v1/admin/automations/test", []string{auto}, map[string]any{"condition": "true", "ticket_id": ticketID}},
		{"GET", aut, []string{auto}, nil},
		{"PATCH", aut, []string{auto}, map[string]any{"enabled": false}},
		{"GET", aut + "/runs", []string{auto}, nil},
		{"DELETE", aut, []string{auto}, nil},
		{"GET", "/api/v1/public/tickets", []string{read}, nil},
		{"POST", "/api/v1/public/tickets", []string{write}, map[string]any{"subject": "s"}},
		{"GET", "/api/v1/public/tickets/" + ticketID, []string{read}, nil},
		{"PATCH", "/api/v1/public/tickets/" + ticketID, []string{write}, map[string]any{"status": "pending"}},
		{"GET", "/api/v1/public/tickets/" + ticketID + "/messages", []string{read}, nil},
		{"POST", "/api/v1/public/tickets/" + ticketID + "/messages", []string{write}, map[string]any{"content": "c"}},
		{"GET", "/api/v1/public/tickets/" + ticketID + "/actions", []string{read, act}, nil},
		{"POST", "/api/v1/public/tickets/" + ticketID + "/actions", []string{act}, referenceAction()},
		{"GET", "/api/v1/public/actions/" + actionID, []string{read, act}, nil},
		{"POST", "/api/v1/public/actions/" + actionID + "/cancel", []string{act}, nil},
	}
}

func TestEveryEndpointByEveryScope(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com")
	actionID := decodeAction(t, e.postAction(f, referenceAction(), nil)).ActionID
	automationID := e.newAutomation(f, exampleAutomation())
	// Within admin.keys' own scopes: the scope ceiling has its own tests.
	spare := keyIDOf(e.newKey(f.tenant, domain.ScopeAdminKeys))
	keys := map[string]string{}
	for _, scope := range domain.AllScopes {
		keys[scope] = e.newKey(f.tenant, scope)
	}
	for _, ep := range endpoints(f.ticket, actionID, automationID, spare) {
		for _, scope := range domain.AllScopes {
			t.Run(ep.method+" "+ep.path+" with "+scope, func(t *testing.T) {
				resp := e.do(req{method: ep.method, path: ep.path, key: keys[scope], body: ep.body})
				if slices.Contains(ep.scopes, scope) {
					if resp.Status >= 300 {
						t.Fatalf("allowed scope refused: %d %s", resp.Status, resp.Body)
					}
					return
				}
				wantError(t, resp, http.StatusForbidden, "permission_error", "")
				for _, need := range ep.scopes {
					if msg := resp.apiError(t).Message; !strings.Contains(msg, need) {
						t.Errorf("403 message %q does not name the scope %s", msg, need)
					}
				}
			})
		}
	}
}

func TestAuthentication(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com")
	tenant, key, ticketID := f.tenant, f.key, f.ticket
	actionID := decodeAction(t, e.postAction(f, referenceAction(), nil)).ActionID
	automationID := e.newAutomation(f, exampleAutomation())
	spare := keyIDOf(e.newKey(tenant, domain.ScopeSupportRead))
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
		for _, ep := range endpoints(ticketID, actionID, automationID, spare) {
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

	for _, ep := range endpoints(idA, "act_00000000000000000000000000", "aut_00000000000000000000000000", "key_00000000000000000000000000") {
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
