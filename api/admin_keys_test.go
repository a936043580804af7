package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
)

// deniedJSON is an auth.denied audit event as the audit API answers it.
type deniedJSON struct {
	Actor  string            `json:"actor"`
	Action string            `json:"action"`
	Target string            `json:"target"`
	After  map[string]string `json:"after"`
}

// deniedBy waits for the auth.denied events of the key with id keyID (of every key if
// keyID is ""), written off the request path, and reads them with auditor.
func (e *testEnv) deniedBy(auditor, keyID string) []deniedJSON {
	e.t.Helper()
	path := "/api/v1/admin/audit-events?action=auth.denied"
	if keyID != "" {
		path += "&actor=key:" + keyID
	}
	var page listJSON[deniedJSON]
	for deadline := time.Now().Add(3 * time.Second); ; {
		resp := e.do(req{method: "GET", path: path, key: auditor})
		if resp.Status != http.StatusOK {
			e.t.Fatalf("audit: %d %s", resp.Status, resp.Body)
		}
		page = listJSON[deniedJSON]{}
		resp.decode(e.t, &page)
		if len(page.Items) > 0 || time.Now().After(deadline) {
			return page.Items
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// keyCount is how many keys the tenant of auditor has, revoked ones included.
func (e *testEnv) keyCount(auditor string) int {
	e.t.Helper()
	var list listJSON[keyJSON]
	e.do(req{method: "GET", path: "/api/v1/admin/api-keys?limit=100", key: auditor}).decode(e.t, &list)
	return len(list.Items)
}

// TestKeyScopeCeilingRefusals: a key cannot create a key with scopes it lacks, nor rotate or
// revoke a key that holds them. The refusal is 403 naming the missing scopes, changes
// nothing, and is audited as auth.denied with the target and the missing scopes.
func TestKeyScopeCeilingRefusals(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com")
	full := e.newKey(f.tenant, domain.AllScopes...) // the tenant's main admin key
	fullID := keyIDOf(full)
	fullPath := "/api/v1/admin/api-keys/" + fullID
	lacking := []string{domain.ScopeSupportRead, domain.ScopeSupportWrite, domain.ScopeSupportActions,
		domain.ScopeAdminAutomations, domain.ScopeAdminSettings, domain.ScopeAdminAudit, domain.ScopeAdminActions}

	for _, tc := range []struct {
		name    string
		scopes  []string // the calling key's
		r       req
		missing []string
		target  string // in the audited reason; "" for a creation
	}{
		{
			name:    "create with support.write",
			scopes:  []string{domain.ScopeAdminKeys},
			r:       req{method: "POST", path: "/api/v1/admin/api-keys", body: map[string]any{"name": "wider", "scopes": []string{"support.write"}}},
			missing: []string{domain.ScopeSupportWrite},
		},
		{
			name:   "create with its own scope and two more",
			scopes: []string{domain.ScopeAdminKeys, domain.ScopeSupportRead},
			r: req{method: "POST", path: "/api/v1/admin/api-keys", body: map[string]any{"name": "wider",
				"scopes": []string{"support.read", "admin.keys", "support.write", "admin.settings"}}},
			missing: []string{domain.ScopeSupportWrite, domain.ScopeAdminSettings},
		},
		{
			name:    "rotate the full admin key",
			scopes:  []string{domain.ScopeAdminKeys},
			r:       req{method: "POST", path: fullPath + "/rotate", body: map[string]any{"grace_period_seconds": 0}},
			missing: lacking,
			target:  fullID,
		},
		{
			name:    "rotate the full admin key idempotently",
			scopes:  []string{domain.ScopeAdminKeys},
			r:       req{method: "POST", path: fullPath + "/rotate", header: map[string]string{"Idempotency-Key": "take-over-1"}},
			missing: lacking,
			target:  fullID,
		},
		{
			name:    "revoke the full admin key",
			scopes:  []string{domain.ScopeAdminKeys},
			r:       req{method: "POST", path: fullPath + "/revoke"},
			missing: lacking,
			target:  fullID,
		},
		{
			name:    "revoke the full admin key idempotently",
			scopes:  []string{domain.ScopeAdminKeys, domain.ScopeAdminAudit, domain.ScopeSupportRead},
			r:       req{method: "POST", path: fullPath + "/revoke", header: map[string]string{"Idempotency-Key": "take-down-1"}},
			missing: []string{domain.ScopeSupportWrite, domain.ScopeSupportActions, domain.ScopeAdminAutomations, domain.ScopeAdminSettings, domain.ScopeAdminActions},
			target:  fullID,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			caller := e.newKey(f.tenant, tc.scopes...)
			before := e.keyCount(full)
			tc.r.key = caller
			resp := e.do(tc.r)
			wantError(t, resp, http.StatusForbidden, "permission_error", "")
			msg := resp.apiError(t).Message
			for _, s := range domain.AllScopes {
				if named := strings.Contains(msg, s); named != slices.Contains(tc.missing, s) {
					t.Errorf("message %q names %s: %v; the missing scopes are %v", msg, s, named, tc.missing)
				}
			}

			// Nothing changed: no new key, and the full key works with its old secret.
			if n := e.keyCount(full); n != before {
				t.Errorf("%d keys after the refusal, %d before", n, before)
			}
			var got keyEnvJSON
			if resp := e.do(req{method: "GET", path: fullPath, key: full}); resp.Status != http.StatusOK {
				t.Fatalf("the full key after the refusal: %d %s", resp.Status, resp.Body)
			} else {
				resp.decode(t, &got)
			}
			if got.Key.RotatedAt != nil || got.Key.RevokedAt != nil || got.Key.PreviousSecretExpiresAt != nil {
				t.Errorf("the full key changed: %+v", got.Key)
			}

			denied := e.deniedBy(full, keyIDOf(caller))
			if len(denied) != 1 {
				t.Fatalf("%d auth.denied events for the caller, want 1: %+v", len(denied), denied)
			}
			reason := denied[0].After["reason"]
			if !strings.Contains(reason, strings.Join(tc.missing, ", ")) || !strings.Contains(reason, tc.target) || denied[0].After["path"] != tc.r.path {
				t.Errorf("auth.denied event %+v does not name the target %q and the missing scopes %v", denied[0], tc.target, tc.missing)
			}
		})
	}
}

// TestKeyScopeCeilingAllows: within its own scopes a key creates, rotates and revokes keys,
// itself included, and reads every key of its tenant whatever their scopes.
func TestKeyScopeCeilingAllows(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com")
	full := e.newKey(f.tenant, domain.AllScopes...)
	for _, tc := range []struct {
		name          string
		scopes, grant []string
	}{
		{"the same single scope", []string{domain.ScopeAdminKeys}, []string{domain.ScopeAdminKeys}},
		{"a strict subset", []string{domain.ScopeAdminKeys, domain.ScopeSupportRead, domain.ScopeSupportWrite}, []string{domain.ScopeSupportRead}},
		{"every scope it holds", []string{domain.ScopeAdminKeys, domain.ScopeSupportRead}, []string{domain.ScopeSupportRead, domain.ScopeAdminKeys}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			caller := e.newKey(f.tenant, tc.scopes...)
			created := e.createKeyViaAPI(caller, map[string]any{"name": "narrower", "scopes": tc.grant})
			path := "/api/v1/admin/api-keys/" + created.Key.KeyID
			resp := e.do(req{method: "POST", path: path + "/rotate", key: caller, body: map[string]any{"grace_period_seconds": 0}})
			var rotated keyEnvJSON
			resp.decode(t, &rotated)
			if resp.Status != http.StatusOK || rotated.APIKey == "" || rotated.APIKey == created.APIKey {
				t.Fatalf("rotate: %d %s", resp.Status, resp.Body)
			}
			if resp := e.do(req{method: "POST", path: path + "/revoke", key: caller}); resp.Status != http.StatusOK {
				t.Fatalf("revoke: %d %s", resp.Status, resp.Body)
			}
			if e.works(rotated.APIKey) {
				t.Error("the revoked key still works")
			}
		})
	}

	t.Run("reads keys beyond its scopes", func(t *testing.T) {
		caller := e.newKey(f.tenant, domain.ScopeAdminKeys)
		if resp := e.do(req{method: "GET", path: "/api/v1/admin/api-keys/" + keyIDOf(full), key: caller}); resp.Status != http.StatusOK {
			t.Errorf("get the full key: %d %s", resp.Status, resp.Body)
		}
		var list listJSON[keyJSON]
		e.do(req{method: "GET", path: "/api/v1/admin/api-keys?limit=100", key: caller}).decode(t, &list)
		if !slices.ContainsFunc(list.Items, func(k keyJSON) bool { return k.KeyID == keyIDOf(full) }) {
			t.Error("the list leaves out the full key")
		}
	})

	t.Run("rotates then revokes itself", func(t *testing.T) {
		self := e.newKey(f.tenant, domain.ScopeAdminKeys)
		path := "/api/v1/admin/api-keys/" + keyIDOf(self)
		resp := e.do(req{method: "POST", path: path + "/rotate", key: self, body: map[string]any{"grace_period_seconds": 0}})
		var rotated keyEnvJSON
		resp.decode(t, &rotated)
		if resp.Status != http.StatusOK || rotated.APIKey == "" {
			t.Fatalf("rotate itself: %d %s", resp.Status, resp.Body)
		}
		if resp := e.do(req{method: "POST", path: path + "/revoke", key: rotated.APIKey}); resp.Status != http.StatusOK {
			t.Fatalf("revoke itself: %d %s", resp.Status, resp.Body)
		}
		wantError(t, e.do(req{method: "GET", path: path, key: rotated.APIKey}), http.StatusUnauthorized, "authentication_error", "")
	})

	// Only the revoked keys' own later uses were refused; no change was.
	for _, ev := range e.deniedBy(full, "") {
		if strings.Contains(ev.After["reason"], "scope ceiling") {
			t.Errorf("an allowed change audited as refused: %+v", ev)
		}
	}
}
