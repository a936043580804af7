package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/temporaltest"
)

// The browser test runs where Chromium is (Debian's chromium package, or CHROMIUM=path).
// Without it the test skips, saying so, unless CONSOLE_BROWSER_TEST=required (.ci/run sets
// it), when it fails instead.
const (
	screenshotDir = "../test-output/console"
	axeScript     = "../tools/console-web/node_modules/axe-core/axe.min.js"
)

func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func requireOrSkip(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CONSOLE_BROWSER_TEST") == "required" {
		t.Fatal(msg)
	}
	t.Skip("SKIPPED: " + msg)
}

// browser drives one headless Chromium tab and checks every page it visits.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	axe  string
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		requireOrSkip(t, "no Chromium found, so the console's browser test did not run (apt-get install chromium, or set CHROMIUM)")
	}
	axe, err := os.ReadFile(axeScript)
	if err != nil {
		requireOrSkip(t, "axe-core is not installed (scripts/console-web.sh installs it with npm), so the console's browser test did not run")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 900),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	ctx, cancelTime := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(cancelTime)
	if err := chromedp.Run(ctx, page.SetBypassCSP(true)); err != nil {
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, ctx: ctx, base: base, axe: string(axe)}
}

func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		var html string
		_ = chromedp.Run(b.ctx, chromedp.OuterHTML("main", &html, chromedp.ByQuery))
		b.t.Fatalf("%s: %v\npage:\n%s", what, err, html)
	}
}

func (b *browser) open(path string) {
	b.t.Helper()
	b.run("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitReady("main", chromedp.ByQuery))
}

// text is the visible text of the page's main element.
func (b *browser) text() string {
	b.t.Helper()
	var s string
	b.run("read the page", chromedp.Text("main", &s, chromedp.ByQuery))
	return s
}

// waitText waits until main's text holds want (across a navigation the form started).
func (b *browser) waitText(want string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		err := chromedp.Run(ctx, chromedp.Text("main", &got, chromedp.ByQuery))
		cancel()
		if err == nil && strings.Contains(got, want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("waited 20 s for %q; the page says:\n%s", want, got)
}

// check runs axe-core on the page (no serious or critical violation allowed) and saves a
// full-page screenshot at desktop and at phone width.
func (b *browser) check(name string) {
	b.t.Helper()
	var violations string
	b.run("axe on "+name,
		chromedp.Evaluate(b.axe, nil),
		chromedp.Evaluate(`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(
			r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
			 .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}))))`,
			&violations, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	if violations != "[]" {
		b.t.Errorf("axe-core on %s: serious or critical violations: %s", name, violations)
	}
	for _, size := range []struct {
		suffix string
		w, h   int64
		mobile bool
	}{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}} {
		var png []byte
		emulate := chromedp.EmulateViewport(size.w, size.h)
		if size.mobile {
			emulate = chromedp.EmulateViewport(size.w, size.h, chromedp.EmulateMobile)
		}
		b.run("screenshot "+name, emulate, chromedp.Sleep(50*time.Millisecond), chromedp.FullScreenshot(&png, 100))
		if size.mobile {
			b.noSidewaysScroll(name)
		}
		if err := os.WriteFile(filepath.Join(screenshotDir, name+"-"+size.suffix+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.run("back to desktop", chromedp.EmulateViewport(1280, 900))
}

// noSidewaysScroll fails when the page is wider than a phone's viewport, naming the
// elements that stick out (a table may scroll inside its own box; the page may not).
func (b *browser) noSidewaysScroll(name string) {
	b.t.Helper()
	var out struct {
		Width, Viewport int
		Wide            []string
	}
	b.run("measure "+name, chromedp.Evaluate(`(() => {
		const vw = document.documentElement.clientWidth, wide = [];
		for (const el of document.querySelectorAll("body *")) {
			const r = el.getBoundingClientRect();
			let clipped = false;
			for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
				if (getComputedStyle(p).overflowX !== "visible") { clipped = true; break; }
			}
			if (!clipped && r.right > vw + 1) wide.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
				(el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "") + " " + Math.round(r.right) + "px");
		}
		return {width: document.documentElement.scrollWidth, viewport: vw, wide: wide.slice(0, 8)};
	})()`, &out))
	if out.Width > out.Viewport {
		b.t.Errorf("%s scrolls sideways at a phone's width: %d px of content in %d; sticking out: %v", name, out.Width, out.Viewport, out.Wide)
	}
}

// setValue sets a field's value as if typed (an input event follows, so htmx reacts).
func setValue(id, value string) chromedp.Action {
	js, _ := json.Marshal(value)
	return chromedp.Evaluate(fmt.Sprintf(`(() => { const el = document.getElementById(%q); el.value = %s;
		el.dispatchEvent(new Event("input", {bubbles: true})); })()`, id, js), nil)
}

// TestConsoleInABrowser walks the console in headless Chromium as an admin would: sign
// in, create a key and see its secret once, write an automation (an invalid condition
// first), test it, make it fire through the public API, follow its run and attempts,
// replay it, look at destination health, sign out, and see a revoked key's session refused.
// Every page is checked with axe-core and saved as screenshots (test-output/console).
func TestConsoleInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test is not short")
	}
	ts := temporaltest.Shared(t)
	e, dsn := envOnURL(t, ts.Addr)
	rc := newReceiver(t, nil)
	f := e.actionFixture(rc.URL)
	admin := e.newKey(f.tenant, domain.AllScopes...)
	base := e.serveHTTP()
	b := newBrowser(t, base)
	startWorker(t, e, dsn, ts.Addr)

	// Sign in.
	b.open("/admin/sign-in")
	b.check("sign-in")
	b.run("sign in", chromedp.SendKeys("#api_key", admin, chromedp.ByID), chromedp.Submit("#api_key", chromedp.ByID))
	b.waitText("Create a key")
	b.check("keys")

	// A key: the secret is shown once, with a copy button.
	var secret string
	b.run("create a key",
		chromedp.SendKeys("#key-name", "zapier", chromedp.ByID),
		chromedp.Click(`input[name="scopes"][value="support.read"]`, chromedp.ByQuery),
		chromedp.Click(`#create-title + form button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#new-secret", chromedp.ByID),
		chromedp.Value("#new-secret", &secret, chromedp.ByID))
	if !strings.HasPrefix(secret, "thr_") {
		t.Fatalf("the secret shown: %q", secret)
	}
	b.run("copy", chromedp.Click(`button[data-copy]`, chromedp.ByQuery))
	b.check("key-created")
	b.open("/admin/keys")
	var html string
	b.run("read the keys page", chromedp.OuterHTML("html", &html, chromedp.ByQuery))
	if strings.Contains(html, secret) || !strings.Contains(html, secret[:12]) {
		t.Errorf("after the first view the secret must be gone and its prefix listed")
	}

	// An automation: an invalid condition is pointed at as it is typed, then a valid one.
	b.open("/admin/automations/new")
	actions := `[{"type": "custom_http", "method": "POST", "url": "/hooks/console", "body_json": "{\"ticket\": \"{{ ticket.ticket_id }}\"}"}]`
	b.run("write an invalid condition",
		chromedp.SendKeys("#name", "Escalate VIP", chromedp.ByID),
		setValue("actions", actions),
		setValue("condition", ""),
		chromedp.SendKeys("#condition", `ticket.priority == "urgent" &&`+"\n"+`ticket.vip`, chromedp.ByID))
	b.waitText("line 2, column")
	b.check("automation-invalid")
	b.run("fix the condition", setValue("condition", ""),
		chromedp.SendKeys("#condition", `ticket.priority == "urgent" && "vip" in ticket.tags`, chromedp.ByID))
	b.waitText("Condition and actions are valid.")

	// Test the draft on a pasted ticket: the explanation per clause and the exact request.
	b.run("test", chromedp.SetValue("#test_ticket", `{"subject": "Order 42", "priority": "urgent", "tags": ["vip"]}`, chromedp.ByID),
		chromedp.Click(`button[formaction="/admin/automations/test"]`, chromedp.ByQuery))
	b.waitText("Matched: these actions would run.")
	page := b.text()
	if !strings.Contains(page, `"vip" in ticket.tags`) || !strings.Contains(page, "POST "+rc.URL+"/hooks/console") {
		t.Errorf("the test panel shows no clause or request:\n%s", page)
	}
	b.run("save", chromedp.Click(`#editor > p > button[type="submit"]`, chromedp.ByQuery))
	b.waitText("Created.")
	var loc string
	b.run("where", chromedp.Location(&loc))
	autID := loc[strings.LastIndex(loc, "/")+1 : strings.Index(loc, "?")]
	b.run("test the saved one", chromedp.SetValue("#test_ticket", `{"subject": "Order 42", "priority": "urgent", "tags": ["vip"]}`, chromedp.ByID),
		chromedp.Click(`button[formaction="/admin/automations/test"]`, chromedp.ByQuery))
	b.waitText("Matched: these actions would run.")
	b.run("backtest", chromedp.Click(`button[formaction="/admin/automations/backtest"]`, chromedp.ByQuery))
	b.waitText("events evaluated")
	b.check("automation-editor")

	// Make it fire through the public API; its run and attempts appear.
	if resp := e.do(req{method: "PATCH", path: "/api/v1/public/tickets/" + f.ticket, key: f.key,
		body: map[string]any{"priority": "urgent", "tags": []string{"vip"}}}); resp.Status != http.StatusOK {
		t.Fatalf("patch: %d %s", resp.Status, resp.Body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.open("/admin/actions?automation_id=" + autID)
		var rows string
		b.run("read the runs", chromedp.Text("tbody", &rows, chromedp.ByQuery))
		if strings.Contains(rows, "succeeded") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no succeeded run of the automation within 30 s:\n%s", b.text())
		}
		time.Sleep(300 * time.Millisecond)
	}
	b.check("actions")
	b.run("open the run", chromedp.Click(`tbody a[href^="/admin/actions/act_"]`, chromedp.ByQuery))
	b.waitText("Attempt log")
	if page := b.text(); !strings.Contains(page, "automation:"+autID) || !strings.Contains(page, "Open the run in the Temporal UI") {
		t.Errorf("the run's page:\n%s", page)
	}
	b.check("action")

	// Replay it.
	b.run("replay", chromedp.Click(`form[action$="/replay"] button`, chromedp.ByQuery))
	b.waitText("This is the replay")
	b.waitText("Replay of")
	b.check("action-replay")

	// Destination health, and the other pages.
	b.open("/admin/destinations")
	b.waitText(strings.TrimPrefix(rc.URL, "http://"))
	b.check("destinations")
	b.open("/admin/automations")
	b.waitText("Escalate VIP")
	b.check("automations")
	b.open("/admin/replays")
	b.run("count", chromedp.Click(`button[value="true"]`, chromedp.ByQuery))
	b.waitText("finished actions match this filter")
	b.check("replays")
	b.open("/admin/settings")
	b.check("settings")
	b.open("/admin/audit")
	b.waitText("api_key.create")
	b.check("audit")

	// Sign out.
	b.run("sign out", chromedp.Click(`form[action="/admin/sign-out"] button`, chromedp.ByQuery))
	b.waitText("You are signed out.")
	b.open("/admin/keys")
	b.waitText("Admin API key")

	// A revoked key's session is refused.
	b.run("sign in again", chromedp.SendKeys("#api_key", admin, chromedp.ByID), chromedp.Submit("#api_key", chromedp.ByID))
	b.waitText("Create a key")
	if resp := e.do(req{method: "POST", path: fmt.Sprintf("/api/v1/admin/api-keys/%s/revoke", keyIDOf(admin)), key: admin}); resp.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", resp.Status, resp.Body)
	}
	b.open("/admin/automations")
	b.waitText("no longer works")
	b.check("signed-out-revoked")
	if strings.Contains(e.logs.String(), admin) || strings.Contains(e.logs.String(), secret) {
		t.Error("a key is in the logs")
	}
}
