package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/simulate"
)

type slaPreviewJSON struct {
	Evaluated, Matched, Errors int
	Complete                   bool
	Samples                    []struct {
		TicketID string `json:"ticket_id"`
		Subject  string `json:"subject"`
		Priority string `json:"priority"`
		Status   string `json:"status"`
		Target   *struct {
			FirstReply *string `json:"first_reply"`
			Resolution *string `json:"resolution"`
		} `json:"target"`
	} `json:"samples"`
}

func (e *testEnv) previewSLA(key string, body any) slaPreviewJSON {
	e.t.Helper()
	resp := e.do(req{method: "POST", path: "/api/v1/admin/sla-policies/preview", key: key, body: body})
	if resp.Status != http.StatusOK {
		e.t.Fatalf("preview: %d %s", resp.Status, resp.Body)
	}
	var out slaPreviewJSON
	resp.decode(e.t, &out)
	return out
}

// slaPreviewFixture is two tenants with a fixture ticket each; a has five more vip tickets
// (priorities urgent, normal, urgent, low, high), b three urgent vip ones.
func (e *testEnv) slaPreviewFixture() (a, b actionFixture) {
	e.t.Helper()
	a = e.actionFixture("https://hooks.example.com")
	b = e.actionFixture("https://hooks.example.com")
	for i, p := range []string{"urgent", "normal", "urgent", "low", "high"} {
		e.mustTicket(a.key, map[string]any{"subject": fmt.Sprint("A ", i), "priority": p, "tags": []string{"vip"}})
	}
	for range 3 {
		e.mustTicket(b.key, map[string]any{"subject": "B", "priority": "urgent", "tags": []string{"vip"}})
	}
	return a, b
}

// bulkTickets adds n open tickets to the tenant, "bulk 1" to "bulk n", urgent and low in
// turn, active a day ago (bulk 1 most recently).
func (e *testEnv) bulkTickets(tenantID string, n int) {
	e.t.Helper()
	_, err := e.store.DB().NewRaw(`INSERT INTO tickets (id, tenant_id, subject, status, priority, channel, created_at, updated_at, last_message_at)
		SELECT 'tkt_bulk' || lpad(i::text, 6, '0'), ?, 'bulk ' || i, 'open', CASE WHEN i % 2 = 0 THEN 'urgent' ELSE 'low' END, 'email',
		       now() - interval '1 day', now() - interval '1 day', now() - interval '1 day' - i * interval '1 second'
		FROM generate_series(1, ?) AS i`, tenantID, n).Exec(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
}

// TestSLAPreviewCountsTheTenantsMatchingTickets: a draft policy's condition is evaluated
// against the caller's tenant's tickets only, newest activity first, with the target each
// sample's priority would get; nothing is written, and bad drafts are 400s.
func TestSLAPreviewCountsTheTenantsMatchingTickets(t *testing.T) {
	e := newTestEnv(t)
	a, b := e.slaPreviewFixture()
	counts := func() string {
		return e.rowCounts("tickets", "ticket_events", "sla_policies", "audit_events")
	}
	before := counts()
	admin := e.adminKey(a)
	draft := map[string]any{"condition": `ticket.priority in ["urgent", "high"] && "vip" in ticket.tags`,
		"targets": map[string]any{"urgent": map[string]any{"first_reply": "30m", "resolution": "4h"}, "normal": map[string]any{"resolution": "24h"}}}
	out := e.previewSLA(admin, draft)
	// a's fixture ticket and its five; b's three urgent vip tickets are not a's.
	if out.Evaluated != 6 || out.Matched != 3 || out.Errors != 0 || !out.Complete || len(out.Samples) != 3 {
		t.Fatalf("preview: %+v", out)
	}
	if s := out.Samples[0]; s.Subject != "A 4" || s.Priority != "high" || s.Status != "open" || s.Target != nil {
		t.Errorf("newest sample (high: the draft sets no target for it): %+v", s)
	}
	if s := out.Samples[1]; s.Subject != "A 2" || s.Target == nil || *s.Target.FirstReply != "30m0s" || *s.Target.Resolution != "4h0m0s" {
		t.Errorf("urgent sample: %+v", s)
	}
	if after := counts(); after != before {
		t.Errorf("the preview wrote something: %s -> %s", before, after)
	}

	// Without targets the samples carry none; b sees only its own tickets.
	out = e.previewSLA(e.adminKey(b), map[string]any{"condition": `"vip" in ticket.tags`})
	if out.Evaluated != 4 || out.Matched != 3 || out.Samples[0].Target != nil || out.Samples[0].Subject != "B" {
		t.Errorf("tenant b: %+v", out)
	}

	// A runtime error counts as an error, not a match.
	out = e.previewSLA(admin, map[string]any{"condition": `int(ticket.subject) > 0`})
	if out.Errors != 6 || out.Matched != 0 {
		t.Errorf("a condition that fails at run time: %+v", out)
	}

	for _, bad := range []struct {
		name  string
		body  map[string]any
		param string
	}{
		{"no condition", map[string]any{"targets": draft["targets"]}, "condition"},
		{"empty condition", map[string]any{"condition": " "}, "condition"},
		{"condition does not compile", map[string]any{"condition": "ticket.nope == 1"}, "condition"},
		{"not a boolean", map[string]any{"condition": "ticket.priority"}, "condition"},
		{"bad duration", map[string]any{"condition": "true", "targets": map[string]any{"urgent": map[string]any{"first_reply": "soon"}}}, "targets.urgent.first_reply"},
		{"unknown priority", map[string]any{"condition": "true", "targets": map[string]any{"asap": map[string]any{"first_reply": "1h"}}}, "targets"},
		{"unknown field", map[string]any{"condition": "true", "name": "x"}, "name"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			wantError(t, e.do(req{method: "POST", path: "/api/v1/admin/sla-policies/preview", key: admin, body: bad.body}), 400, "invalid_request_error", bad.param)
		})
	}
	resp := e.do(req{method: "POST", path: "/api/v1/admin/sla-policies/preview", key: a.key, body: map[string]any{"condition": "true"}})
	if resp.Status != http.StatusOK {
		t.Errorf("a key with every scope: %d", resp.Status)
	}
	support := e.newKey(a.tenant, domain.ScopeSupportRead, domain.ScopeSupportWrite)
	wantError(t, e.do(req{method: "POST", path: "/api/v1/admin/sla-policies/preview", key: support, body: map[string]any{"condition": "true"}}), 403, "permission_error", "")
}

// TestSLAPreviewStopsAtAThousandTickets: the preview reads at most the 1,000 most recently
// active tickets and says it left the rest out.
func TestSLAPreviewStopsAtAThousandTickets(t *testing.T) {
	e := newTestEnv(t)
	a := e.actionFixture("https://hooks.example.com")
	e.bulkTickets(a.tenant, 1000)
	out := e.previewSLA(e.adminKey(a), map[string]any{"condition": `ticket.priority == "urgent"`})
	// The fixture's ticket is the newest; bulk 1000 (urgent) is the oldest and left out.
	if out.Evaluated != simulate.MaxPreviewTickets || out.Complete || out.Matched != 499 || len(out.Samples) != simulate.PreviewSamples {
		t.Errorf("preview over 1,001 tickets: evaluated %d, matched %d, complete %v, %d samples", out.Evaluated, out.Matched, out.Complete, len(out.Samples))
	}
	if out.Samples[0].Subject != "bulk 2" {
		t.Errorf("the newest match first: %+v", out.Samples[0])
	}
}
