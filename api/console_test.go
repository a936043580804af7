package main

import (
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/threada/threada/internal/domain"
)

// serveHTTP serves the env's app on a loopback port for the test's life; the console needs
// a real server for browsers and cookie jars.
func (e *testEnv) serveHTTP() string {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	go func() { _ = e.app.Listener(ln) }()
	e.t.Cleanup(func() { _ = e.app.Shutdown() })
	return "http://" + ln.Addr().String()
}

// consoleClient is a browser without JavaScript: cookies, no redirects followed silently.
type consoleClient struct {
	t    *testing.T
	base string
	http *http.Client
}

func newConsoleClient(t *testing.T, base string) *consoleClient {
	jar, _ := cookiejar.New(nil)
	return &consoleClient{t: t, base: base, http: &http.Client{Jar: jar}}
}

func (cc *consoleClient) get(path string) (int, string) {
	cc.t.Helper()
	resp, err := cc.http.Get(cc.base + path)
	if err != nil {
		cc.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (cc *consoleClient) post(path string, form url.Values) (int, string) {
	cc.t.Helper()
	resp, err := cc.http.PostForm(cc.base+path, form)
	if err != nil {
		cc.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf is the token of the last form on page.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfInput.FindAllStringSubmatch(page, -1)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", page)
	}
	return m[len(m)-1][1]
}

func (cc *consoleClient) signIn(key string) string {
	cc.t.Helper()
	_, page := cc.get("/admin/sign-in")
	status, page := cc.post("/admin/sign-in", url.Values{"csrf_token": {csrfOf(cc.t, page)}, "api_key": {key}})
	if status != http.StatusOK {
		cc.t.Fatalf("sign in: %d\n%s", status, page)
	}
	return page
}

func TestConsoleSessions(t *testing.T) {
	e := newTestEnv(t)
	base := e.serveHTTP()
	tenant := e.newTenant("Acme")
	admin := e.newKey(tenant, domain.ScopeAdminKeys, domain.ScopeAdminAudit, domain.ScopeSupportRead)
	other := e.newTenant("Other")
	e.newKey(other, domain.ScopeSupportRead)

	cc := newConsoleClient(t, base)
	if status, page := cc.get("/admin/keys"); status != http.StatusOK || !strings.Contains(page, `name="api_key"`) {
		t.Fatalf("signed out, a page sends to sign in: %d", status)
	}
	page := cc.signIn(admin)
	if !strings.Contains(page, "<h1>API keys</h1>") {
		t.Fatalf("after sign in, the first page the key may use:\n%s", page)
	}
	for _, hidden := range []string{"/admin/automations", "/admin/sla-policies", "/admin/settings", "/admin/actions"} {
		if strings.Contains(page, `href="`+hidden+`"`) {
			t.Errorf("the menu shows %s, which the key may not use", hidden)
		}
		if status, _ := cc.get(hidden); status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", hidden, status)
		}
	}
	if strings.Contains(page, admin) || strings.Contains(e.logs.String(), admin) {
		t.Error("the key is on a page or in the logs")
	}
	var rows int
	if err := e.store.DB().NewRaw("SELECT count(*) FROM console_sessions WHERE position(? in encode(sealed_key, 'escape')) > 0", admin).Scan(t.Context(), &rows); err != nil || rows != 0 {
		t.Errorf("the key is readable in the session table (%d rows, %v)", rows, err)
	}

	// Only the key's tenant: the other tenant's key is not listed.
	if strings.Count(page, `/revoke"`) != 1 {
		t.Errorf("want the one key of this tenant listed:\n%s", page)
	}

	// A form without the session's CSRF token, or from another origin, is refused.
	if status, _ := cc.post("/admin/keys", url.Values{"name": {"x"}, "scopes": {"support.read"}}); status != http.StatusForbidden {
		t.Errorf("no CSRF token: %d", status)
	}
	token := csrfOf(t, page)
	status, created := cc.post("/admin/keys", url.Values{"csrf_token": {token}, "name": {"zapier"}, "scopes": {"support.read"}, "idempotency_key": {"0123456789abcdef0123"}})
	secret := regexp.MustCompile(`value="(thr_[^"]+)"`).FindStringSubmatch(created)
	if status != http.StatusCreated || secret == nil {
		t.Fatalf("create: %d\n%s", status, created)
	}
	if _, again := cc.get("/admin/keys"); strings.Contains(again, secret[1]) {
		t.Error("the secret is shown a second time")
	}
	// The same form sent again creates nothing more and shows no secret.
	if _, dup := cc.post("/admin/keys", url.Values{"csrf_token": {token}, "name": {"zapier"}, "scopes": {"support.read"}, "idempotency_key": {"0123456789abcdef0123"}}); strings.Contains(dup, `id="new-secret"`) || !strings.Contains(dup, "already sent") {
		t.Errorf("a form sent twice:\n%s", dup)
	}

	// Rotating shows the new secret once; revoking needs the key's name typed.
	zapier := keyIDOf(secret[1])
	_, confirm := cc.get("/admin/keys/" + zapier + "/rotate")
	status, rotated := cc.post("/admin/keys/"+zapier+"/rotate", url.Values{"csrf_token": {csrfOf(t, confirm)}, "grace_period_seconds": {"0"}})
	if status != http.StatusOK || !strings.Contains(rotated, `id="new-secret"`) || strings.Contains(rotated, secret[1]) {
		t.Fatalf("rotate: %d\n%s", status, rotated)
	}
	_, confirm = cc.get("/admin/keys/" + zapier + "/revoke")
	if status, _ := cc.post("/admin/keys/"+zapier+"/revoke", url.Values{"csrf_token": {csrfOf(t, confirm)}, "confirm": {"nope"}}); status != http.StatusBadRequest {
		t.Errorf("revoke without the name typed: %d", status)
	}
	if status, page := cc.post("/admin/keys/"+zapier+"/revoke", url.Values{"csrf_token": {csrfOf(t, confirm)}, "confirm": {"zapier"}}); status != http.StatusOK || !strings.Contains(page, "The key was revoked") {
		t.Errorf("revoke: %d\n%s", status, page)
	}

	// Revoking the session's key ends the session at its next page.
	if resp := e.do(req{method: "POST", path: "/api/v1/admin/api-keys/" + keyIDOf(admin) + "/revoke", key: admin}); resp.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", resp.Status, resp.Body)
	}
	// Even a page that needs no API data (the new automation form) ends it.
	if status, page := cc.get("/admin/automations/new"); status != http.StatusOK || !strings.Contains(page, "no longer works") {
		t.Fatalf("a revoked key's session: %d\n%s", status, page)
	}
	if status, page := cc.get("/admin/audit"); !strings.Contains(page, `name="api_key"`) {
		t.Fatalf("the session is gone: %d", status)
	}
}

// TestConsoleCookiesBehindATLSProxy: over plain HTTP the console's cookies are not Secure
// (a browser would drop them), unless CONSOLE_SECURE_COOKIES=always says TLS ends at a
// proxy in front; then every cookie is Secure.
func TestConsoleCookiesBehindATLSProxy(t *testing.T) {
	for _, always := range []bool{false, true} {
		e := newTestEnv(t)
		e.srv.consoleSecureCookies = always
		e.app = e.srv.app()
		resp, err := http.Get(e.serveHTTP() + "/admin/sign-in")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cookies := resp.Cookies()
		if len(cookies) == 0 {
			t.Fatal("the sign-in page set no cookie")
		}
		for _, ck := range cookies {
			if ck.Secure != always || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
				t.Errorf("always=%v: cookie %s Secure=%v HttpOnly=%v SameSite=%v", always, ck.Name, ck.Secure, ck.HttpOnly, ck.SameSite)
			}
		}
	}
}

// sessionCookie is the console session cookie cc's browser holds.
func (cc *consoleClient) sessionCookie() string {
	cc.t.Helper()
	u, _ := url.Parse(cc.base + "/admin/")
	for _, ck := range cc.http.Jar.Cookies(u) {
		if ck.Name == "threada_console" {
			return ck.Value
		}
	}
	cc.t.Fatal("no session cookie")
	return ""
}

// pageWith asks for an admin page with only the session cookie value and follows no
// redirect: 200 for a live session, 303 to the sign-in page without one.
func pageWith(t *testing.T, base, cookie string) int {
	t.Helper()
	r, _ := http.NewRequest(http.MethodGet, base+"/admin/keys", nil)
	r.AddCookie(&http.Cookie{Name: "threada_console", Value: cookie})
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusSeeOther && !strings.HasPrefix(resp.Header.Get("Location"), "/admin/sign-in") {
		t.Fatalf("redirected to %s", resp.Header.Get("Location"))
	}
	return resp.StatusCode
}

// TestConsoleCookiesCostNoQueries: a session cookie is checked against its tag before the
// database, so made-up cookies, cookies from before they were tagged and one session's
// token under another's tag cost no query; a tagged cookie of a session that has ended
// costs one query per process (none in the process that ended it), however often it is
// replayed. Another tenant's session is unaffected throughout.
func TestConsoleCookiesCostNoQueries(t *testing.T) {
	e, queries := newCountedEnv(t)
	base := e.serveHTTP()
	acme, globex := e.newTenant("Acme"), e.newTenant("Globex")
	acmeKey, globexKey := e.newKey(acme, domain.ScopeAdminKeys), e.newKey(globex, domain.ScopeAdminKeys)
	e.noUsageWrites(acmeKey, globexKey)
	acmeBrowser, globexBrowser := newConsoleClient(t, base), newConsoleClient(t, base)
	acmeBrowser.signIn(acmeKey)
	globexBrowser.signIn(globexKey)
	acmeCookie, globexCookie := acmeBrowser.sessionCookie(), globexBrowser.sessionCookie()
	acmeToken, acmeTag, _ := strings.Cut(acmeCookie, ".")
	globexToken, globexTag, _ := strings.Cut(globexCookie, ".")

	replay := func(cookie func() string, times int) (statuses map[int]int, n int64) {
		statuses = map[int]int{}
		n = queries.during(func() {
			for range times {
				statuses[pageWith(t, base, cookie())]++
			}
		})
		return statuses, n
	}
	random := func(n int) string { return (rand.Text() + rand.Text())[:n] } // 43 and 22 in ours
	for _, tc := range []struct {
		name   string
		cookie func() string
	}{
		{"a random token and tag", func() string { return random(43) + "." + random(22) }},
		{"a random token under a live session's tag", func() string { return random(43) + "." + acmeTag }},
		{"a live session's token without its tag (a cookie from before tags)", func() string { return acmeToken }},
		{"a live session's token under another tenant's session's tag", func() string { return acmeToken + "." + globexTag }},
		{"a live session's token with its tag altered", func() string { return globexToken + "." + strings.ToUpper(globexTag) }},
		{"too long", func() string { return acmeCookie + strings.Repeat("a", 100) }},
	} {
		statuses, n := replay(tc.cookie, 200)
		if n != 0 || statuses[http.StatusSeeOther] != 200 {
			t.Errorf("%s: %d queries, statuses %v; want none, 200 sent to sign in", tc.name, n, statuses)
		}
	}
	for name, cookie := range map[string]string{"Acme": acmeCookie, "Globex": globexCookie} {
		if status := pageWith(t, base, cookie); status != http.StatusOK {
			t.Fatalf("%s's live session: %d", name, status)
		}
	}

	// Globex's sessions end elsewhere (another API process signs them out): this process
	// learns it from one query and remembers.
	if err := e.store.DeleteConsoleSessionsOf(t.Context(), keyIDOf(globexKey)); err != nil {
		t.Fatal(err)
	}
	if statuses, n := replay(func() string { return globexCookie }, 200); n != 1 || statuses[http.StatusSeeOther] != 200 {
		t.Errorf("a session ended elsewhere, replayed 200 times: %d queries, statuses %v; want 1 query", n, statuses)
	}
	if status := pageWith(t, base, acmeCookie); status != http.StatusOK {
		t.Fatalf("Acme's session after Globex's ended: %d", status)
	}

	// Acme signs out here: replaying its cookie costs nothing at all.
	_, page := acmeBrowser.get("/admin/keys")
	if status, _ := acmeBrowser.post("/admin/sign-out", url.Values{"csrf_token": {csrfOf(t, page)}}); status != http.StatusOK {
		t.Fatalf("sign out: %d", status)
	}
	if statuses, n := replay(func() string { return acmeCookie }, 200); n != 0 || statuses[http.StatusSeeOther] != 200 {
		t.Errorf("a signed-out session, replayed 200 times: %d queries, statuses %v; want none", n, statuses)
	}
}
