package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/threada/threada/internal/domain"
)

// TestRetentionSettings: a tenant sets, shows and resets its retention; the defaults show
// as what applies when it has none; values out of bounds are 400 naming the field and
// change nothing; each change is in the audit log.
func TestRetentionSettings(t *testing.T) {
	e := newTestEnv(t)
	tenant := e.newTenant("Acme")
	key := e.newKey(tenant, domain.ScopeAdminSettings, domain.ScopeAdminAudit)
	type view struct {
		Settings struct {
			Retention map[string]*int `json:"retention"`
		} `json:"settings"`
	}
	get := func() map[string]*int {
		var v view
		e.do(req{method: "GET", path: "/api/v1/admin/settings", key: key}).decode(t, &v)
		return v.Settings.Retention
	}
	str := func(m map[string]*int) string {
		var b strings.Builder
		for _, k := range []string{"attempts", "runs", "response_bodies", "audit", "closed_tickets"} {
			for _, f := range []string{k + "_days", "effective_" + k + "_days"} {
				if v := m[f]; v != nil {
					b.WriteString(f + "=" + strconv.Itoa(*v) + " ")
				} else {
					b.WriteString(f + "=null ")
				}
			}
		}
		return strings.TrimSpace(b.String())
	}
	defaults := "attempts_days=null effective_attempts_days=90 runs_days=null effective_runs_days=90 response_bodies_days=null effective_response_bodies_days=30 " +
		"audit_days=null effective_audit_days=400 closed_tickets_days=null effective_closed_tickets_days=null"
	if got := str(get()); got != defaults {
		t.Fatalf("defaults:\n%s\nwant\n%s", got, defaults)
	}
	patch := func(body map[string]any) *response {
		return e.do(req{method: "PATCH", path: "/api/v1/admin/settings", key: key, body: map[string]any{"retention": body}})
	}
	if resp := patch(map[string]any{"closed_tickets_days": 30, "attempts_days": 7}); resp.Status != http.StatusOK {
		t.Fatalf("patch: %d %s", resp.Status, resp.Body)
	}
	set := "attempts_days=7 effective_attempts_days=7 runs_days=null effective_runs_days=90 response_bodies_days=null effective_response_bodies_days=30 " +
		"audit_days=null effective_audit_days=400 closed_tickets_days=30 effective_closed_tickets_days=30"
	if got := str(get()); got != set {
		t.Fatalf("after setting:\n%s\nwant\n%s", got, set)
	}
	for _, bad := range []struct {
		body  map[string]any
		param string
	}{
		{map[string]any{"attempts_days": 6}, "retention.attempts_days"},
		{map[string]any{"audit_days": 89}, "retention.audit_days"},
		{map[string]any{"runs_days": 3651}, "retention.runs_days"},
		{map[string]any{"closed_tickets_days": 0}, "retention.closed_tickets_days"},
		{map[string]any{"response_bodies_days": "30"}, "retention.response_bodies_days"},
		{map[string]any{"attempts_days": 6, "closed_tickets_days": 0}, "retention.attempts_days"},
	} {
		wantError(t, patch(bad.body), http.StatusBadRequest, "invalid_request_error", bad.param)
	}
	if got := str(get()); got != set {
		t.Fatalf("refused changes changed the settings:\n%s", got)
	}
	if resp := patch(map[string]any{"closed_tickets_days": nil, "attempts_days": nil}); resp.Status != http.StatusOK {
		t.Fatalf("reset: %d %s", resp.Status, resp.Body)
	}
	if got := str(get()); got != defaults {
		t.Fatalf("after resetting:\n%s", got)
	}
	var audit struct {
		Items []struct {
			Action string         `json:"action"`
			After  map[string]any `json:"after"`
		} `json:"items"`
	}
	e.do(req{method: "GET", path: "/api/v1/admin/audit-events?action=settings.update", key: key}).decode(t, &audit)
	if len(audit.Items) != 2 || audit.Items[1].After["retention"] == nil {
		t.Errorf("audit: %+v", audit.Items)
	}
}
