package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/ratelimit"
	"github.com/threada/threada/internal/store"
)

type keyJSON struct {
	KeyID                   string   `json:"key_id"`
	Name                    string   `json:"name"`
	Scopes                  []string `json:"scopes"`
	Prefix                  string   `json:"prefix"`
	LastUsedAt              *string  `json:"last_used_at"`
	ExpiresAt               *string  `json:"expires_at"`
	RevokedAt               *string  `json:"revoked_at"`
	RotatedAt               *string  `json:"rotated_at"`
	PreviousSecretExpiresAt *string  `json:"previous_secret_expires_at"`
}

type keyEnvJSON struct {
	Key    keyJSON `json:"key"`
	APIKey string  `json:"api_key"`
}

// adminKeys issues a key that manages keys with the read and write support scopes: a key
// can hand out only the scopes it holds.
func (e *testEnv) adminKeys(f actionFixture) string {
	e.t.Helper()
	return e.newKey(f.tenant, domain.ScopeAdminKeys, domain.ScopeSupportRead, domain.ScopeSupportWrite)
}

func (e *testEnv) createKeyViaAPI(admin string, body any) keyEnvJSON {
	e.t.Helper()
	resp := e.do(req{method: "POST", path: "/api/v1/admin/api-keys", key: admin, body: body})
	if resp.Status != http.StatusCreated {
		e.t.Fatalf("create key: %d %s", resp.Status, resp.Body)
	}
	var out keyEnvJSON
	resp.decode(e.t, &out)
	return out
}

// works reports whether a key authenticates (any status but 401).
func (e *testEnv) works(key string) bool {
	e.t.Helper()
	return e.do(req{method: "GET", path: "/api/v1/public/tickets", key: key}).Status != http.StatusUnauthorized
}

func TestKeyLifecycle(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com")
	admin := e.adminKeys(f)

	created := e.createKeyViaAPI(admin, map[string]any{"name": "zapier", "scopes": []string{"support.read", "support.write"}})
	k := created.Key
	if !strings.HasPrefix(created.APIKey, "thr_") || !strings.HasPrefix(k.KeyID, "key_") || k.Name != "zapier" ||
		!strings.HasPrefix(created.APIKey, k.Prefix) || len(k.Prefix) >= len(created.APIKey) || k.RevokedAt != nil {
		t.Fatalf("created %+v", created)
	}
	if !e.works(created.APIKey) {
		t.Fatal("the new key does not work")
	}
	path := "/api/v1/admin/api-keys/" + k.KeyID
	resp := e.do(req{method: "GET", path: path, key: admin})
	if strings.Contains(string(resp.Body), created.APIKey[len(k.Prefix):]) || strings.Contains(string(resp.Body), "api_key\"") {
		t.Errorf("GET shows the secret: %s", resp.Body)
	}
	// last_used_at is written at most once a minute, off the request path.
	deadline := time.Now().Add(3 * time.Second)
	for {
		var got keyEnvJSON
		e.do(req{method: "GET", path: path, key: admin}).decode(t, &got)
		if got.Key.LastUsedAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("last_used_at never set")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Rotation with a grace period: both secrets work until it ends.
	resp = e.do(req{method: "POST", path: path + "/rotate", key: admin, body: map[string]any{"grace_period_seconds": 3600}})
	var rotated keyEnvJSON
	resp.decode(t, &rotated)
	if resp.Status != 200 || rotated.APIKey == "" || rotated.APIKey == created.APIKey || rotated.Key.KeyID != k.KeyID || rotated.Key.PreviousSecretExpiresAt == nil {
		t.Fatalf("rotate: %d %s", resp.Status, resp.Body)
	}
	if !e.works(created.APIKey) || !e.works(rotated.APIKey) {
		t.Error("during the grace period both secrets must work")
	}
	// Without grace: the old secret stops at once.
	resp = e.do(req{method: "POST", path: path + "/rotate", key: admin, body: map[string]any{"grace_period_seconds": 0}})
	var again keyEnvJSON
	resp.decode(t, &again)
	if e.works(rotated.APIKey) || !e.works(again.APIKey) || e.works(created.APIKey) {
		t.Error("after a rotation without grace only the newest secret may work")
	}
	// Revoked: 401 on the next request.
	if resp := e.do(req{method: "POST", path: path + "/revoke", key: admin}); resp.Status != 200 {
		t.Fatalf("revoke: %d %s", resp.Status, resp.Body)
	}
	if e.works(again.APIKey) {
		t.Error("a revoked key still works")
	}
	wantError(t, e.do(req{method: "POST", path: path + "/rotate", key: admin}), http.StatusConflict, "conflict_error", "")

	// Expiry.
	soon := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	exp := e.createKeyViaAPI(admin, map[string]any{"name": "short", "scopes": []string{"support.read"}, "expires_at": soon})
	if !e.works(exp.APIKey) {
		t.Fatal("a key before its expiry does not work")
	}
	time.Sleep(1600 * time.Millisecond)
	resp = e.do(req{method: "GET", path: "/api/v1/public/tickets", key: exp.APIKey})
	wantError(t, resp, http.StatusUnauthorized, "authentication_error", "")
	if !strings.Contains(resp.apiError(t).Message, "expired") {
		t.Errorf("message %q", resp.apiError(t).Message)
	}

	for _, body := range []map[string]any{
		{"name": "x", "scopes": []string{"support.everything"}},
		{"name": "x", "scopes": []string{}},
		{"name": "", "scopes": []string{"support.read"}},
		{"name": "x", "scopes": []string{"support.read"}, "expires_at": "2001-01-01T00:00:00Z"},
	} {
		wantError(t, e.do(req{method: "POST", path: "/api/v1/admin/api-keys", key: admin, body: body}), http.StatusBadRequest, "invalid_request_error", "")
	}
	var list listJSON[keyJSON]
	e.do(req{method: "GET", path: "/api/v1/admin/api-keys?limit=100", key: admin}).decode(t, &list)
	if len(list.Items) != 4 { // the fixture's, the admin, zapier, short
		t.Errorf("%d keys listed", len(list.Items))
	}
}

// TestKeyCreateReplayHidesTheSecret: an idempotent replay of a key creation answers the
// key without its secret and creates nothing.
func TestKeyCreateReplayHidesTheSecret(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com")
	admin := e.adminKeys(f)
	body := map[string]any{"name": "once", "scopes": []string{"support.read"}}
	h := map[string]string{"Idempotency-Key": "key-create-1"}
	first := e.do(req{method: "POST", path: "/api/v1/admin/api-keys", key: admin, body: body, header: h})
	again := e.do(req{method: "POST", path: "/api/v1/admin/api-keys", key: admin, body: body, header: h})
	var a, b keyEnvJSON
	first.decode(t, &a)
	again.decode(t, &b)
	if a.APIKey == "" || b.APIKey != "" || b.Key.KeyID != a.Key.KeyID || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("first %s\nreplay %s", first.Body, again.Body)
	}
}

// TestSecretsAreNeverStoredShownOrLogged dumps every table and the logs and looks for the
// API key and signing secrets issued.
func TestSecretsAreNeverStoredShownOrLogged(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com")
	admin := e.adminKeys(f)
	settings := e.newKey(f.tenant, domain.ScopeAdminSettings, domain.ScopeAdminAudit, domain.ScopeAdminKeys)
	created := e.createKeyViaAPI(admin, map[string]any{"name": "leaky?", "scopes": []string{"support.read"}})
	resp := e.do(req{method: "POST", path: "/api/v1/admin/api-keys/" + created.Key.KeyID + "/rotate", key: admin, header: map[string]string{"Idempotency-Key": "r1"}})
	var rotated keyEnvJSON
	resp.decode(t, &rotated)
	resp = e.do(req{method: "POST", path: "/api/v1/admin/settings/signing-secret/rotate", key: settings, header: map[string]string{"Idempotency-Key": "s1"}})
	var sec struct {
		SigningSecret string `json:"signing_secret"`
	}
	resp.decode(t, &sec)
	if !strings.HasPrefix(sec.SigningSecret, "whsec_") {
		t.Fatalf("rotate signing secret: %d %s", resp.Status, resp.Body)
	}
	e.works(created.APIKey)
	e.works(rotated.APIKey)

	secrets := map[string]string{
		"api key": created.APIKey, "rotated api key": rotated.APIKey,
		"api key random part":   created.APIKey[len(created.APIKey)-30:],
		"signing secret":        sec.SigningSecret,
		"signing secret base64": strings.TrimPrefix(sec.SigningSecret, "whsec_"),
		"tenant signing secret": strings.TrimPrefix(e.secrets[f.tenant], "whsec_"),
	}
	var tables []string
	if err := e.store.DB().NewRaw("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").Scan(context.Background(), &tables); err != nil {
		t.Fatal(err)
	}
	if len(tables) < 10 {
		t.Fatalf("only %d tables found: %v", len(tables), tables)
	}
	for _, table := range tables {
		var rows []string
		if err := e.store.DB().NewRaw(fmt.Sprintf("SELECT t::text FROM %q t", table)).Scan(context.Background(), &rows); err != nil {
			t.Fatal(err)
		}
		dump := strings.Join(rows, "\n")
		for name, secret := range secrets {
			if strings.Contains(dump, secret) {
				t.Errorf("table %s holds the %s in plaintext", table, name)
			}
		}
	}
	logs := e.logs.String()
	for name, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs hold the %s", name)
		}
	}
	// Nothing shows them again.
	for _, p := range []string{"/api/v1/admin/api-keys", "/api/v1/admin/api-keys/" + created.Key.KeyID, "/api/v1/admin/settings", "/api/v1/admin/audit-events?limit=100"} {
		body := string(e.do(req{method: "GET", path: p, key: settings}).Body)
		for name, secret := range secrets {
			if strings.Contains(body, secret) {
				t.Errorf("GET %s shows the %s", p, name)
			}
		}
	}
}

func TestAdminTenantIsolation(t *testing.T) {
	e := newTestEnv(t)
	a := e.actionFixture("https://hooks.a.example")
	b := e.actionFixture("https://hooks.b.example")
	victim := e.createKeyViaAPI(e.adminKeys(a), map[string]any{"name": "a's", "scopes": []string{"support.read"}})
	adminB := e.newKey(b.tenant, domain.ScopeAdminKeys, domain.ScopeAdminSettings, domain.ScopeAdminAudit)
	// Another tenant's key is not found whether or not B's key holds its scopes: the scope
	// ceiling never turns a 404 into a 403 that would confirm the key exists.
	for _, key := range []string{adminB, b.key} {
		for _, r := range []req{
			{method: "GET", path: "/api/v1/admin/api-keys/" + victim.Key.KeyID},
			{method: "POST", path: "/api/v1/admin/api-keys/" + victim.Key.KeyID + "/rotate"},
			{method: "POST", path: "/api/v1/admin/api-keys/" + victim.Key.KeyID + "/revoke"},
		} {
			r.key = key
			wantError(t, e.do(r), http.StatusNotFound, "not_found_error", "")
		}
	}
	if !e.works(victim.APIKey) {
		t.Error("B's requests affected A's key")
	}
	var keys listJSON[keyJSON]
	e.do(req{method: "GET", path: "/api/v1/admin/api-keys", key: adminB}).decode(t, &keys)
	for _, k := range keys.Items {
		if k.KeyID == victim.Key.KeyID {
			t.Error("B lists A's key")
		}
	}
	var audit listJSON[map[string]any]
	e.do(req{method: "GET", path: "/api/v1/admin/audit-events", key: adminB}).decode(t, &audit)
	if len(audit.Items) != 0 {
		t.Errorf("B sees %d audit events of A", len(audit.Items))
	}
	var st struct{ Settings map[string]any }
	e.do(req{method: "GET", path: "/api/v1/admin/settings", key: adminB}).decode(t, &st)
	if st.Settings["tenant_id"] != b.tenant {
		t.Errorf("settings of %v", st.Settings["tenant_id"])
	}
}

func TestSettings(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com")
	key := e.newKey(f.tenant, domain.ScopeAdminSettings)
	patch := func(body any) *response {
		return e.do(req{method: "PATCH", path: "/api/v1/admin/settings", key: key, body: body})
	}
	type settingsJSON struct {
		Settings struct {
			ActionsBaseURL *string  `json:"actions_base_url"`
			AllowedHosts   []string `json:"allowed_hosts"`
			ActionDefaults struct {
				TimeoutMS   *int `json:"timeout_ms"`
				MaxAttempts *int `json:"max_attempts"`
			} `json:"action_defaults"`
			RateLimits map[string]*int `json:"rate_limits"`
		} `json:"settings"`
	}
	resp := patch(map[string]any{"actions_base_url": "https://hooks.example.org/v2", "allowed_hosts": []string{"api.partner.example"},
		"action_defaults": map[string]any{"timeout_ms": 2500, "max_attempts": 9}, "rate_limits": map[string]any{"key_rps": 20}})
	if resp.Status != 200 {
		t.Fatalf("patch: %d %s", resp.Status, resp.Body)
	}
	var s settingsJSON
	resp.decode(t, &s)
	if *s.Settings.ActionsBaseURL != "https://hooks.example.org/v2" || s.Settings.AllowedHosts[0] != "api.partner.example" || *s.Settings.RateLimits["key_rps"] != 20 {
		t.Errorf("settings %+v", s)
	}
	// The defaults apply to actions that do not set their own.
	a := decodeAction(t, e.postAction(f, referenceAction(), nil))
	got, err := e.store.ActionByID(context.Background(), a.ActionID)
	if err != nil || got.Request.TimeoutMS != 2500 || got.Request.MaxAttempts != 9 || got.Request.URL != "https://hooks.example.org/v2/hooks/zapier" {
		t.Errorf("action request %+v (%v)", got.Request, err)
	}
	// null resets to the default.
	resp = patch(map[string]any{"action_defaults": map[string]any{"timeout_ms": nil}, "rate_limits": map[string]any{"key_rps": nil}, "actions_base_url": nil})
	if resp.Status != 200 {
		t.Fatalf("reset: %d %s", resp.Status, resp.Body)
	}
	s = settingsJSON{}
	resp.decode(t, &s)
	if s.Settings.ActionDefaults.TimeoutMS != nil || s.Settings.ActionDefaults.MaxAttempts == nil || *s.Settings.ActionDefaults.MaxAttempts != 9 || s.Settings.RateLimits["key_rps"] != nil || s.Settings.ActionsBaseURL != nil {
		t.Errorf("after resets: %s", resp.Body)
	}
	for _, tc := range []struct {
		body  any
		param string
	}{
		{map[string]any{"actions_base_url": "ftp://x"}, "actions_base_url"},
		{map[string]any{"actions_base_url": ""}, "actions_base_url"},
		{map[string]any{"allowed_hosts": []string{"ok.example.com", "http://x/"}}, "allowed_hosts[1]"},
		{map[string]any{"allowed_hosts": []any{nil}}, "allowed_hosts[0]"},
		{map[string]any{"allowed_hosts": []any{12345}}, "allowed_hosts[0]"},
		{map[string]any{"allowed_hosts": nil}, "allowed_hosts"},
		{map[string]any{"action_defaults": map[string]any{"timeout_ms": 10}}, "action_defaults.timeout_ms"},
		{map[string]any{"rate_limits": map[string]any{"tenant_rps": 0}}, "rate_limits.tenant_rps"},
		{map[string]any{"rate_limits": map[string]any{"tenant_rps": "fast"}}, "rate_limits.tenant_rps"},
		{map[string]any{"color": "blue"}, "color"},
	} {
		wantError(t, patch(tc.body), http.StatusBadRequest, "invalid_request_error", tc.param)
	}
}

// TestRateLimits: every authenticated response carries the RateLimit headers; past the
// bucket a request gets 429 with Retry-After; the tenant's setting overrides the default
// and the tenant bucket is shared by its keys.
func TestRateLimits(t *testing.T) {
	e := newTestEnv(t)
	clock := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	e.srv.limiter = ratelimit.New(2, 10, 1) // 2/s per key (burst 4), 10/s per tenant (burst 20)
	e.srv.limiter.Now = func() time.Time { return clock }
	f := e.actionFixture("https://hooks.example.com")
	get := func(key string) *response {
		return e.do(req{method: "GET", path: "/api/v1/public/tickets", key: key})
	}
	key := e.newKey(f.tenant, domain.ScopeSupportRead) // the fixture's key already spent a token
	for i := 0; i < 4; i++ {
		resp := get(key)
		if resp.Status != 200 || resp.Header.Get("RateLimit-Limit") != "4" || resp.Header.Get("RateLimit-Remaining") != fmt.Sprint(3-i) || resp.Header.Get("RateLimit-Reset") == "" {
			t.Fatalf("request %d: %d %v", i, resp.Status, resp.Header)
		}
	}
	resp := get(key)
	wantError(t, resp, http.StatusTooManyRequests, "rate_limit_error", "")
	if resp.Header.Get("Retry-After") != "1" || resp.Header.Get("RateLimit-Remaining") != "0" {
		t.Errorf("429 headers %v", resp.Header)
	}
	clock = clock.Add(time.Second) // two tokens back
	if get(key).Status != 200 || get(key).Status != 200 || get(key).Status != 429 {
		t.Error("the bucket did not refill at 2/s")
	}

	// The tenant bucket is shared: 20 at once across many keys, then 429.
	g := e.actionFixture("https://hooks.example.com")
	ok := 0
	for i := 0; i < 8; i++ {
		k := e.newKey(g.tenant, domain.ScopeSupportRead)
		for j := 0; j < 3; j++ {
			if get(k).Status == 200 {
				ok++
			}
		}
	}
	if ok != 19 { // the fixture spent one creating its ticket
		t.Errorf("%d requests passed the tenant's bucket of 20", ok)
	}

	// A tenant's setting overrides the default.
	admin := e.newKey(f.tenant, domain.ScopeAdminSettings)
	clock = clock.Add(time.Minute)
	if resp := e.do(req{method: "PATCH", path: "/api/v1/admin/settings", key: admin, body: map[string]any{"rate_limits": map[string]any{"key_rps": 50}}}); resp.Status != 200 {
		t.Fatalf("settings: %d %s", resp.Status, resp.Body)
	}
	e.srv.limiter.ForgetKey(keyIDOf(key))
	if got := get(key).Header.Get("RateLimit-Limit"); got != "20" { // min(key 100, tenant 20)
		t.Errorf("RateLimit-Limit %s after raising the key limit; the tenant bucket (20) is now the tighter", got)
	}
}

// TestAuditLog: each admin change writes an audit row with actor, action, target, request
// id, client IP and before/after; a refused change writes none; refused uses of a known
// key are recorded, throttled.
func TestAuditLog(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com")
	admin := e.newKey(f.tenant, domain.ScopeAdminKeys, domain.ScopeAdminSettings, domain.ScopeAdminAudit, domain.ScopeAdminAutomations, domain.ScopeSupportRead)
	adminID := keyIDOf(admin)
	created := e.createKeyViaAPI(admin, map[string]any{"name": "audited", "scopes": []string{"support.read"}})
	e.do(req{method: "POST", path: "/api/v1/admin/api-keys/" + created.Key.KeyID + "/rotate", key: admin, header: map[string]string{"X-Request-Id": "rotate-req-1"}})
	e.do(req{method: "POST", path: "/api/v1/admin/api-keys/" + created.Key.KeyID + "/revoke", key: admin})
	e.do(req{method: "PATCH", path: "/api/v1/admin/settings", key: admin, body: map[string]any{"allowed_hosts": []string{"x.example"}}})
	autID := decodeAutomation(t, e.do(req{method: "POST", path: "/api/v1/admin/automations", key: admin, body: exampleAutomation()})).AutomationID
	e.do(req{method: "PATCH", path: "/api/v1/admin/automations/" + autID, key: admin, body: map[string]any{"enabled": false}})
	e.do(req{method: "DELETE", path: "/api/v1/admin/automations/" + autID, key: admin})
	// Refused changes are not audited.
	e.do(req{method: "PATCH", path: "/api/v1/admin/settings", key: admin, body: map[string]any{"actions_base_url": "nope"}})
	e.do(req{method: "POST", path: "/api/v1/admin/api-keys/" + created.Key.KeyID + "/rotate", key: admin}) // revoked: 409

	type auditJSON struct {
		Actor, Action, Target, RequestID, ClientIP string
		Before, After                              json.RawMessage
	}
	list := func(query string) []auditJSON {
		t.Helper()
		var page listJSON[struct {
			Actor     string          `json:"actor"`
			Action    string          `json:"action"`
			Target    string          `json:"target"`
			RequestID string          `json:"request_id"`
			ClientIP  string          `json:"client_ip"`
			Before    json.RawMessage `json:"before"`
			After     json.RawMessage `json:"after"`
		}]
		resp := e.do(req{method: "GET", path: "/api/v1/admin/audit-events" + query, key: admin})
		if resp.Status != 200 {
			t.Fatalf("audit %s: %d %s", query, resp.Status, resp.Body)
		}
		resp.decode(t, &page)
		out := make([]auditJSON, len(page.Items))
		for i, it := range page.Items {
			out[i] = auditJSON{it.Actor, it.Action, it.Target, it.RequestID, it.ClientIP, it.Before, it.After}
		}
		return out
	}
	var actions []string
	for _, ev := range list("?limit=100") {
		actions = append(actions, ev.Action)
		if ev.Actor != "key:"+adminID || ev.RequestID == "" || ev.ClientIP == "" {
			t.Errorf("event %+v lacks actor, request id or client IP", ev)
		}
	}
	want := "[automation.delete automation.update automation.create settings.update api_key.revoke api_key.rotate api_key.create]"
	if fmt.Sprint(actions) != want {
		t.Errorf("audit actions %v, want %s", actions, want)
	}
	rot := list("?action=api_key.rotate&target=" + created.Key.KeyID)
	if len(rot) != 1 || rot[0].RequestID != "rotate-req-1" || !strings.Contains(string(rot[0].Before), `"rotated_at":null`) || !strings.Contains(string(rot[0].After), created.Key.KeyID) {
		t.Errorf("rotate event %+v", rot)
	}
	if got := list("?actor=key:" + adminID + "&since=" + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339) + "&until=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); len(got) != 7 {
		t.Errorf("time-range filter: %d events", len(got))
	}
	if got := list("?until=" + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)); len(got) != 0 {
		t.Errorf("events before an hour ago: %d", len(got))
	}
	wantError(t, e.do(req{method: "GET", path: "/api/v1/admin/audit-events?since=yesterday", key: admin}), 400, "invalid_request_error", "since")

	// Refused uses of a known key: recorded once a minute per key and reason.
	for i := 0; i < 5; i++ {
		e.works(created.APIKey) // revoked
	}
	reader := e.newKey(f.tenant, domain.ScopeSupportRead)
	e.do(req{method: "GET", path: "/api/v1/admin/settings", key: reader}) // wrong scope
	deadline := time.Now().Add(3 * time.Second)
	var denied []auditJSON
	for time.Now().Before(deadline) {
		if denied = list("?action=auth.denied"); len(denied) >= 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	denied = list("?action=auth.denied")
	if len(denied) != 2 || !strings.Contains(string(denied[0].After)+string(denied[1].After), "revoked") ||
		!strings.Contains(string(denied[0].After)+string(denied[1].After), "missing scope") {
		t.Errorf("denied events %+v", denied)
	}
}

// TestAuditRowsRollBackWithTheirChange: an audit row written in a transaction that fails
// is gone with it.
func TestAuditRowsRollBackWithTheirChange(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com")
	ctx := context.Background()
	boom := fmt.Errorf("the change fails after its audit row")
	err := e.store.InTx(ctx, func(tx *store.Conn) error {
		if _, _, err := tx.UpdateTenant(ctx, f.tenant, domain.TenantUpdate{AllowedHosts: &[]string{"a.example"}}); err != nil {
			return err
		}
		if err := tx.RecordAudit(ctx, domain.AuditEvent{TenantID: f.tenant, Actor: "key:x", Action: "settings.update", Target: f.tenant}); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Fatal(err)
	}
	events, _, err := e.store.ListAudit(ctx, f.tenant, store.AuditFilter{}, nil, 10)
	if err != nil || len(events) != 0 {
		t.Errorf("%d audit rows survived the rollback (%v)", len(events), err)
	}
	if tn, _ := e.store.GetTenant(ctx, f.tenant); len(tn.AllowedHosts) != 0 {
		t.Errorf("the change survived: %v", tn.AllowedHosts)
	}
}
