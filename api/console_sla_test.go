package main

import (
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/threada/threada/internal/domain"
)

// slaForm is the console's SLA policy form filled in as an admin would.
func slaForm(csrf, name, condition string) url.Values {
	return url.Values{"csrf_token": {csrf}, "name": {name}, "enabled": {"on"}, "condition": {condition}, "warning_percent": {"80"},
		"target_urgent_first_reply": {"30m"}, "target_urgent_resolution": {"4h"}, "target_normal_resolution": {"24h"},
		"business_hours": {"on"}, "time_zone": {"Europe/Berlin"}, "hours_monday": {"09:00-12:00, 13:00-17:00"},
		"hours_friday": {"09:00-15:00"}, "holidays": {"2026-12-25\n2026-12-26"},
		"idempotency_key": {"console-sla-test-" + hex.EncodeToString([]byte(name+condition))}}
}

var slaPolicyLink = regexp.MustCompile(`/admin/sla-policies/(slp_[A-Za-z0-9]+)`)

// TestConsoleSLAPolicies: through the console without JavaScript, an admin creates an SLA
// policy with business hours, previews the tickets it matches, edits it, reorders and
// disables policies, and deletes one after confirming; refusals come back to the form.
func TestConsoleSLAPolicies(t *testing.T) {
	e := newTestEnv(t)
	base := e.serveHTTP()
	f := e.actionFixture("https://hooks.example.com")
	for _, p := range []string{"urgent", "urgent", "low"} {
		e.mustTicket(f.key, map[string]any{"subject": "Order " + p, "priority": p})
	}
	other := e.actionFixture("https://hooks.example.com")
	e.mustTicket(other.key, map[string]any{"subject": "Theirs", "priority": "urgent"})
	cc := newConsoleClient(t, base)
	cc.signIn(e.newKey(f.tenant, domain.ScopeAdminAutomations))

	_, page := cc.get("/admin/sla-policies/new")
	if !strings.Contains(page, `href="/admin/sla-policies"`) || !strings.Contains(page, `id="hours_monday"`) {
		t.Fatalf("the new policy form:\n%s", page)
	}
	csrf := csrfOf(t, page)

	// A bad range and a condition that does not compile come back to the form.
	bad := slaForm(csrf, "Urgent", `ticket.priority == "urgent"`)
	bad.Set("hours_monday", "9 to 5")
	if status, page := cc.post("/admin/sla-policies", bad); status != http.StatusBadRequest || !strings.Contains(page, "business_hours.weekly.monday") {
		t.Errorf("an unreadable range: %d\n%s", status, page)
	}
	bad = slaForm(csrf, "Urgent", "ticket.priority ==")
	if status, page := cc.post("/admin/sla-policies", bad); status != http.StatusBadRequest || !strings.Contains(page, "line 1, column") || !strings.Contains(page, `value="Europe/Berlin"`) {
		t.Errorf("a condition that does not compile: %d\n%s", status, page)
	}

	// The live check and the preview.
	if _, frag := cc.post("/admin/sla-policies/validate", url.Values{"csrf_token": {csrf}, "condition": {"ticket.nope"}}); !strings.Contains(frag, "ticket.nope") {
		t.Errorf("validate:\n%s", frag)
	}
	if _, frag := cc.post("/admin/sla-policies/validate", url.Values{"csrf_token": {csrf}, "condition": {"true"}}); !strings.Contains(frag, "The condition is valid.") {
		t.Errorf("validate:\n%s", frag)
	}
	status, preview := cc.post("/admin/sla-policies/preview", slaForm(csrf, "Urgent", `ticket.priority == "urgent"`))
	if status != http.StatusOK || !strings.Contains(preview, "<strong>2</strong> of the 4 most recently active tickets match") ||
		!strings.Contains(preview, "Order urgent") || !strings.Contains(preview, "<td>30m</td><td>4h</td>") || strings.Contains(preview, "Theirs") {
		t.Errorf("preview: %d\n%s", status, preview)
	}

	// Create, then edit.
	status, page = cc.post("/admin/sla-policies", slaForm(csrf, "Urgent", `ticket.priority == "urgent"`))
	if status != http.StatusOK || !strings.Contains(page, "Created.") || !strings.Contains(page, `value="09:00-12:00, 13:00-17:00"`) ||
		!strings.Contains(page, "2026-12-25\n2026-12-26") || !strings.Contains(page, `value="30m"`) {
		t.Fatalf("create: %d\n%s", status, page)
	}
	urgent := slaPolicyLink.FindStringSubmatch(page)[1]
	form := slaForm(csrf, "Urgent", `ticket.priority == "urgent"`)
	form.Set("sla_policy_id", urgent)
	if _, page := cc.post("/admin/sla-policies/preview", form); !strings.Contains(page, "Save (version 1)") || !strings.Contains(page, "<strong>2</strong> of the 4") {
		t.Errorf("a saved policy's preview without JavaScript:\n%s", page)
	}
	edit := slaForm(csrfOf(t, page), "Urgent (edited)", `ticket.priority == "urgent"`)
	edit.Del("business_hours")
	edit.Set("target_urgent_first_reply", "")
	if status, page := cc.post("/admin/sla-policies/"+urgent, edit); status != http.StatusOK || !strings.Contains(page, "Saved") {
		t.Fatalf("edit: %d\n%s", status, page)
	}
	var got struct {
		SLAPolicy struct {
			Name          string                        `json:"name"`
			Targets       map[string]map[string]*string `json:"targets"`
			BusinessHours *struct{}                     `json:"business_hours"`
			Version       int                           `json:"version"`
		} `json:"sla_policy"`
	}
	e.do(req{method: "GET", path: "/api/v1/admin/sla-policies/" + urgent, key: f.key}).decode(t, &got)
	if p := got.SLAPolicy; p.Name != "Urgent (edited)" || p.BusinessHours != nil || p.Targets["urgent"]["first_reply"] != nil || p.Version != 2 {
		t.Errorf("after the edit: %+v", p)
	}

	// A second policy; reorder, disable, delete.
	_, page = cc.post("/admin/sla-policies", slaForm(csrf, "Everything", "true"))
	everything := slaPolicyLink.FindStringSubmatch(page)[1]
	_, list := cc.get("/admin/sla-policies")
	if strings.Index(list, "Urgent (edited)") > strings.Index(list, "Everything") || !strings.Contains(list, "business hours, Europe/Berlin") {
		t.Fatalf("the list:\n%s", list)
	}
	if status, list := cc.post("/admin/sla-policies/"+everything+"/move", url.Values{"csrf_token": {csrf}, "neighbour": {urgent}}); status != http.StatusOK ||
		!strings.Contains(list, "Moved.") || strings.Index(list, "Urgent (edited)") < strings.Index(list, "Everything") {
		t.Errorf("move up: %d\n%s", status, list)
	}
	if status, list := cc.post("/admin/sla-policies/"+everything+"/enabled", url.Values{"csrf_token": {csrf}, "enabled": {"false"}}); status != http.StatusOK || !strings.Contains(list, "Disabled.") {
		t.Errorf("disable: %d\n%s", status, list)
	}
	_, confirm := cc.get("/admin/sla-policies/" + everything + "/delete")
	if !strings.Contains(confirm, "cannot be undone") {
		t.Fatalf("confirm:\n%s", confirm)
	}
	if status, list := cc.post("/admin/sla-policies/"+everything+"/delete", url.Values{"csrf_token": {csrfOf(t, confirm)}}); status != http.StatusOK ||
		!strings.Contains(list, "Deleted") || strings.Contains(list, "Everything") {
		t.Errorf("delete: %d\n%s", status, list)
	}
	// The other tenant's policies are not reachable.
	otherPolicy := e.newSLAPolicy(other)
	if status, _ := cc.get("/admin/sla-policies/" + otherPolicy); status != http.StatusNotFound {
		t.Errorf("another tenant's policy: %d", status)
	}
	if status, _ := cc.post("/admin/sla-policies/"+otherPolicy+"/delete", url.Values{"csrf_token": {csrf}}); status != http.StatusNotFound {
		t.Errorf("deleting another tenant's policy: %d", status)
	}
}
