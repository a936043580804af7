package main

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/threada/threada/internal/domain"
)

// seedAction stores a queued action of f's ticket to url, requested by requestedBy,
// without starting it.
func (e *testEnv) seedAction(f actionFixture, rawURL, requestedBy string) string {
	e.t.Helper()
	p := domain.CustomHTTPPayload{Type: "custom_http", Method: "POST", URL: rawURL, BodyJSON: `{}`}
	u, _ := url.Parse(rawURL)
	call, err := p.Validate(domain.ActionSettings{AllowedHosts: []string{u.Hostname()}})
	if err != nil {
		e.t.Fatal(err)
	}
	a := &domain.Action{ID: domain.NewID(domain.PrefixAction), TenantID: f.tenant, TicketID: f.ticket, Type: "custom_http",
		RequestedBy: requestedBy, Payload: p, Request: call}
	if err := e.store.CreateAction(context.Background(), a); err != nil {
		e.t.Fatal(err)
	}
	return a.ID
}

func TestAdminActionsListing(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("")
	other := e.actionFixture("")
	a1 := e.seedAction(f, "https://hooks.example.com/a", "api_key:x")
	a2 := e.seedAction(f, "https://Other.example.org/b", "automation:aut_06h02zzzzzzzzzzzzzzzzzzzzz")
	a3 := e.seedAction(f, "https://hooks.example.com/c", "api_key:x")
	e.seedAction(other, "https://hooks.example.com/a", "api_key:x")
	admin := e.newKey(f.tenant, domain.ScopeAdminActions)

	list := func(query string) []string {
		t.Helper()
		resp := e.do(req{method: "GET", path: "/api/v1/admin/actions" + query, key: admin})
		if resp.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", query, resp.Status, resp.Body)
		}
		var page listJSON[actionJSON]
		resp.decode(t, &page)
		var ids []string
		for _, a := range page.Items {
			ids = append(ids, a.ActionID)
		}
		return ids
	}
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"all, newest first, this tenant only", "", []string{a3, a2, a1}},
		{"by host, any case", "?host=hooks.example.com", []string{a3, a1}},
		{"by host written in capitals", "?host=OTHER.example.org", []string{a2}},
		{"by automation", "?automation_id=aut_06h02zzzzzzzzzzzzzzzzzzzzz", []string{a2}},
		{"by status", "?status=queued&ticket_id=" + f.ticket, []string{a3, a2, a1}},
		{"no match", "?status=failed", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(tc.query); !equalStrings(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}

	// Pages follow each other; a token is bound to its filters.
	resp := e.do(req{method: "GET", path: "/api/v1/admin/actions?limit=2", key: admin})
	var page listJSON[actionJSON]
	resp.decode(t, &page)
	if len(page.Items) != 2 || page.NextPageToken == "" {
		t.Fatalf("first page: %s", resp.Body)
	}
	if got := list("?limit=2&page_token=" + page.NextPageToken); !equalStrings(got, []string{a1}) {
		t.Errorf("second page %v", got)
	}
	wantError(t, e.do(req{method: "GET", path: "/api/v1/admin/actions?status=failed&page_token=" + page.NextPageToken, key: admin}),
		http.StatusBadRequest, typeInvalidRequest, "page_token")

	for _, bad := range []struct{ query, param string }{
		{"?status=done", "status"}, {"?ticket_id=nope", "ticket_id"}, {"?automation_id=tkt_1", "automation_id"},
		{"?host=a/b", "host"}, {"?host=.", "host"}, {"?host=a%09b", "host"}, {"?colour=red", "colour"},
	} {
		wantError(t, e.do(req{method: "GET", path: "/api/v1/admin/actions" + bad.query, key: admin}), http.StatusBadRequest, typeInvalidRequest, bad.param)
	}
	wantError(t, e.do(req{method: "GET", path: "/api/v1/admin/actions", key: e.newKey(f.tenant, domain.ScopeSupportRead)}),
		http.StatusForbidden, typePermission, "")
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestValidateAutomation(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com")
	key := e.adminKey(f)
	type result struct {
		Valid  bool `json:"valid"`
		Errors []struct {
			Param   string `json:"param"`
			Message string `json:"message"`
			Line    *int   `json:"line"`
			Column  *int   `json:"column"`
		} `json:"errors"`
	}
	validate := func(body any) result {
		t.Helper()
		resp := e.do(req{method: "POST", path: "/api/v1/admin/automations/validate", key: key, body: body})
		if resp.Status != http.StatusOK {
			t.Fatalf("%d %s", resp.Status, resp.Body)
		}
		var r result
		resp.decode(t, &r)
		return r
	}
	if r := validate(map[string]any{"condition": `ticket.priority == "urgent"`,
		"actions": []any{map[string]any{"type": "custom_http", "method": "POST", "url": "/hooks/{{ ticket.ticket_id }}"}}}); !r.Valid || len(r.Errors) != 0 {
		t.Errorf("a valid draft: %+v", r)
	}
	r := validate(map[string]any{"condition": "ticket.priority ==\n  ticket.nope"})
	if r.Valid || len(r.Errors) != 1 || r.Errors[0].Param != "condition" || r.Errors[0].Line == nil || *r.Errors[0].Line != 2 || *r.Errors[0].Column < 1 {
		t.Errorf("an unknown field: %+v", r)
	}
	r = validate(map[string]any{"condition": "1 == 2", "actions": []any{map[string]any{"type": "custom_http", "method": "POST", "url": "https://evil.example.net/x"}}})
	if r.Valid || len(r.Errors) != 2 || r.Errors[0].Param != "condition" || r.Errors[1].Param != "actions[0].url" || r.Errors[1].Line != nil {
		t.Errorf("always false, and a host not allowed: %+v", r)
	}
	// Neither field is a rule of the body as a whole (minProperties), so param names the body: "".
	empty := e.do(req{method: "POST", path: "/api/v1/admin/automations/validate", key: key, body: map[string]any{}})
	if wantError(t, empty, http.StatusBadRequest, typeInvalidRequest, ""); empty.apiError(t).Param != "" {
		t.Errorf("an empty draft names %q, want the body", empty.apiError(t).Param)
	}
	wantError(t, e.do(req{method: "POST", path: "/api/v1/admin/automations/validate", key: e.newKey(f.tenant, domain.ScopeSupportRead), body: map[string]any{"condition": "true"}}), http.StatusForbidden, typePermission, "")
}

func TestWhoami(t *testing.T) {
	e := newTestEnv(t)
	tenant := e.newTenant("Acme")
	key := e.newKey(tenant, domain.ScopeSupportRead, domain.ScopeAdminKeys)
	resp := e.do(req{method: "GET", path: "/api/v1/public/whoami", key: key})
	if resp.Status != http.StatusOK {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
	var env struct {
		Key struct {
			TenantID string   `json:"tenant_id"`
			Scopes   []string `json:"scopes"`
		} `json:"key"`
		APIKey string `json:"api_key"`
	}
	resp.decode(t, &env)
	if env.Key.TenantID != tenant || len(env.Key.Scopes) != 2 || env.APIKey != "" {
		t.Errorf("whoami: %s", resp.Body)
	}
	wantError(t, e.do(req{method: "GET", path: "/api/v1/public/whoami", key: "thr_nope"}), http.StatusUnauthorized, typeAuthentication, "")
	wantError(t, e.do(req{method: "GET", path: "/api/v1/public/whoami?x=1", key: key}), http.StatusBadRequest, typeInvalidRequest, "x")
}

func TestDryRunOfADraftRendersItsActions(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com")
	key := e.adminKey(f)
	resp := e.do(req{method: "POST", path: "/api/v1/admin/automations/test", key: key, body: map[string]any{
		"condition": "true", "ticket_id": f.ticket,
		"actions": []any{map[string]any{"type": "custom_http", "method": "POST", "url": "/t/{{ ticket.ticket_id }}"}},
	}})
	var out struct {
		Matched bool `json:"matched"`
		Actions []struct {
			Request struct {
				URL string `json:"url"`
			} `json:"request"`
		} `json:"actions"`
	}
	resp.decode(t, &out)
	if resp.Status != http.StatusOK || !out.Matched || len(out.Actions) != 1 || out.Actions[0].Request.URL != "https://hooks.example.com/t/"+f.ticket {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
	wantError(t, e.do(req{method: "POST", path: "/api/v1/admin/automations/test", key: key, body: map[string]any{
		"automation_id": "aut_06h02zzzzzzzzzzzzzzzzzzzzz", "ticket_id": f.ticket,
		"actions": []any{map[string]any{"type": "set_fields", "add_tags": []string{"x"}}},
	}}), http.StatusBadRequest, typeInvalidRequest, "actions")
}
