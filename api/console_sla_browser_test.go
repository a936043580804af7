package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/threada/threada/internal/domain"
)

// TestConsoleSLAInABrowser walks the SLA pages in headless Chromium: write a policy with
// business hours (an invalid condition first), preview the tickets it matches, create it,
// edit it, and delete it after confirming. Every page is checked with axe-core and saved
// as screenshots (test-output/console), like TestConsoleInABrowser's.
func TestConsoleSLAInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test is not short")
	}
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com")
	for _, p := range []string{"urgent", "high", "low"} {
		e.mustTicket(f.key, map[string]any{"subject": "Order for " + p, "priority": p})
	}
	other := e.actionFixture("https://hooks.example.com")
	e.mustTicket(other.key, map[string]any{"subject": "Another tenant's", "priority": "urgent"})
	admin := e.newKey(f.tenant, domain.AllScopes...)
	b := newBrowser(t, e.serveHTTP())

	b.open("/admin/sign-in")
	b.run("sign in", chromedp.SendKeys("#api_key", admin, chromedp.ByID), chromedp.Submit("#api_key", chromedp.ByID))
	b.waitText("Create a key")
	b.open("/admin/sla-policies")
	b.waitText("No SLA policies yet")

	// The condition is checked as it is typed.
	b.run("new policy", chromedp.Click(`a[href="/admin/sla-policies/new"]`, chromedp.ByQuery))
	b.waitText("Business hours")
	b.run("write an invalid condition", chromedp.SendKeys("#name", "Urgent and high, office hours", chromedp.ByID),
		setValue("condition", ""), chromedp.SendKeys("#condition", `ticket.priority in ["urgent", "high"] &&`, chromedp.ByID))
	b.waitText("line 1, column")
	b.run("fix it", setValue("condition", ""), chromedp.SendKeys("#condition", `ticket.priority in ["urgent", "high"]`, chromedp.ByID))
	b.waitText("The condition is valid.")

	// Targets and a business-hours calendar, then the preview.
	b.run("fill in targets and hours",
		setValue("target_urgent_first_reply", "30m"), setValue("target_urgent_resolution", "4h"),
		setValue("target_high_first_reply", ""), setValue("target_high_resolution", "1d"),
		chromedp.Click("#business_hours", chromedp.ByID), setValue("time_zone", "Europe/Berlin"),
		setValue("hours_monday", "09:00-12:00, 13:00-17:00"), setValue("hours_tuesday", "09:00-17:00"),
		setValue("holidays", "2026-12-25\n2026-12-26"))
	b.run("preview", chromedp.Click(`button[formaction="/admin/sla-policies/preview"]`, chromedp.ByQuery))
	b.waitText("is not a Go duration") // 1d: Go durations stop at hours
	b.run("fix the target", setValue("target_high_resolution", "24h"),
		chromedp.Click(`button[formaction="/admin/sla-policies/preview"]`, chromedp.ByQuery))
	b.waitText("2 of the 4 most recently active tickets match")
	if page := b.text(); !strings.Contains(page, "Order for high") || !strings.Contains(page, "Order for urgent") || strings.Contains(page, "Another tenant's") {
		t.Errorf("the preview's samples:\n%s", page)
	}
	b.check("sla-policy-new")

	b.run("create", chromedp.Click(`#sla-editor > p > button[type="submit"]`, chromedp.ByQuery))
	b.waitText("Created.")
	var hours string
	b.run("read the hours", chromedp.Value("#hours_monday", &hours, chromedp.ByID))
	if hours != "09:00-12:00, 13:00-17:00" {
		t.Errorf("Monday's hours after saving: %q", hours)
	}
	b.check("sla-policy-editor")

	// Edit: Friday opens, the name changes.
	b.run("edit", setValue("name", "Urgent and high"), setValue("hours_friday", "09:00-15:00"),
		chromedp.Click(`#sla-editor > p > button[type="submit"]`, chromedp.ByQuery))
	b.waitText("Saved")
	b.waitText("version 2")
	b.open("/admin/sla-policies")
	b.waitText("Urgent and high")
	if page := b.text(); !strings.Contains(page, "business hours, Europe/Berlin") || !strings.Contains(page, "urgent: first reply 30m, resolution 4h") {
		t.Errorf("the list:\n%s", page)
	}
	b.check("sla-policies")

	// Delete, after confirming.
	b.run("delete", chromedp.Click(`a[href$="/delete"]`, chromedp.ByQuery))
	b.waitText("cannot be undone")
	b.check("sla-policy-delete")
	b.run("confirm", chromedp.Click(`form[action$="/delete"] button`, chromedp.ByQuery))
	b.waitText("Deleted")
	b.waitText("No SLA policies yet")
}
