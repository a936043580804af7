package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRuleBudgetThroughTheAPI: a dry run of a rule past its budget answers its budget error
// promptly; a condition using a builtin outside the allow-list, or a non-literal pattern,
// is refused at save; a saved automation reports disabled_reason (null while enabled).
func TestRuleBudgetThroughTheAPI(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com")
	key := e.adminKey(f)
	start := time.Now()
	resp := e.do(req{method: "POST", path: "/api/v1/admin/automations/test", key: key, body: map[string]any{
		"condition": `any(1..9000, {any(1..9000, {# < 0})})`, "ticket_id": f.ticket}})
	if resp.Status != http.StatusOK {
		t.Fatalf("dry run: %d %s", resp.Status, resp.Body)
	}
	var out dryRunJSON
	resp.decode(t, &out)
	if out.Error == nil || !strings.Contains(*out.Error, "rule exceeded its evaluation budget") || out.Matched {
		t.Errorf("dry run: %+v", out)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("dry run took %s", d)
	}
	for _, cond := range []string{`len(sortBy(ticket.tags, #)) > 0`, `ticket.subject matches ticket.contact.name`, `repeat("x", 9) != ""`} {
		body := exampleAutomation()
		body["condition"] = cond
		wantError(t, e.do(req{method: "POST", path: "/api/v1/admin/automations", key: key, body: body}), http.StatusBadRequest, "invalid_request_error", "condition")
	}
	resp = e.do(req{method: "POST", path: "/api/v1/admin/automations", key: key, body: exampleAutomation()})
	var env struct {
		Automation map[string]any `json:"automation"`
	}
	resp.decode(t, &env)
	if v, ok := env.Automation["disabled_reason"]; !ok || v != nil {
		t.Errorf("disabled_reason %v (present %v)", v, ok)
	}
}

// TestKeyGraceOutOfRange: a grace period past the maximum is refused, however large the
// number (it once overflowed into an accepted value).
func TestKeyGraceOutOfRange(t *testing.T) {
	e := newTestEnv(t)
	tenant, _ := e.tenantWithKey()
	admin := e.newKey(tenant, "admin.keys")
	target := keyIDOf(e.newKey(tenant, "admin.keys"))
	for _, g := range []any{-1, 9223372036854775807, 31 * 24 * 3600 * 1000} {
		wantError(t, e.do(req{method: "POST", path: "/api/v1/admin/api-keys/" + target + "/rotate", key: admin,
			body: map[string]any{"grace_period_seconds": g}}), http.StatusBadRequest, "invalid_request_error", "grace_period_seconds")
	}
}
