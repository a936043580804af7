package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/secretbox"
)

// Session limits.
const (
	// IdleTimeout ends a session nobody has used for that long.
	IdleTimeout = 12 * time.Hour
	// touchEvery is how often a session's last use is written (not on every page).
	touchEvery = time.Minute
	// maxSessionsPerKey bounds what one key's sign-ins store; the oldest go first.
	maxSessionsPerKey = 20
	maxKeyLen         = 200

	cookieName       = "threada_console"
	signInCookieName = "threada_console_signin"
	csrfField        = "csrf_token"
	csrfHeader       = "X-CSRF-Token"
)

// Sessions keeps signed-in sessions, in PostgreSQL so that every API process behind a load
// balancer sees them. The console stores only a session's token hash and its key sealed
// under a key derived from the token (see sealKey).
type Sessions interface {
	CreateConsoleSession(ctx context.Context, s *domain.ConsoleSession, maxPerKey int, idle time.Duration) error
	// ConsoleSession returns the session used within idle (ENOTFOUND otherwise).
	ConsoleSession(ctx context.Context, tokenHash []byte, idle, touchEvery time.Duration) (*domain.ConsoleSession, error)
	DeleteConsoleSession(ctx context.Context, tokenHash []byte) error
	DeleteConsoleSessionsOf(ctx context.Context, keyID string) error
}

// session is a signed-in session during one request: its row, the API key opened from it,
// and the CSRF token its forms carry.
type session struct {
	*domain.ConsoleSession
	key  string
	csrf string
}

// derive returns HMAC-SHA256(token, label): the token's hash for lookups, the key that
// seals the API key, and the CSRF token are all derived from the cookie's token, so the
// database holds none of them and none reveals another.
func derive(token, label string) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(label))
	return m.Sum(nil)
}

func tokenHash(token string) []byte { return derive(token, "threada console session id") }

func csrfToken(token string) string {
	return base64.RawURLEncoding.EncodeToString(derive(token, "threada console csrf"))
}

func sealBox(token string) *secretbox.Box {
	box, _ := secretbox.New(base64.StdEncoding.EncodeToString(derive(token, "threada console key seal")))
	return box
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// setCookie sets a console cookie: HttpOnly, SameSite=Strict, Secure when served over TLS
// (or always, with SecureCookies), for the console's path only; maxAge 0 keeps it for the
// browser session, -1 deletes it.
func (cn *Console) setCookie(c *fiber.Ctx, name, value string, maxAge int) {
	ck := &fiber.Cookie{Name: name, Value: value, Path: Prefix, HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode,
		Secure: cn.SecureCookies || c.Protocol() == "https", MaxAge: maxAge}
	if maxAge < 0 {
		ck.Expires = time.Unix(0, 0)
	}
	c.Cookie(ck)
}

// authenticate finds the request's session; nil when there is none (or it has ended).
// Only a cookie this server tagged, naming a session not known to have ended, costs a
// query.
func (cn *Console) authenticate(c *fiber.Ctx) (*session, error) {
	token, ok := cn.verifyCookie(c.Cookies(cookieName))
	if !ok {
		return nil, nil
	}
	hash := tokenHash(token)
	if cn.ended.has(hash) {
		return nil, nil
	}
	cs, err := cn.sessions.ConsoleSession(c.UserContext(), hash, IdleTimeout, touchEvery)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		cn.ended.add(hash)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	key, err := sealBox(token).Open(cs.SealedKey, cs.KeyID)
	if err != nil {
		return nil, nil // not this session's token: treat as signed out
	}
	return &session{ConsoleSession: cs, key: key, csrf: csrfToken(token)}, nil
}

// sameOrigin refuses a state-changing request another site made: SameSite=Strict already
// keeps the cookie off it, and an Origin header that is not ours is refused as well.
func sameOrigin(c *fiber.Ctx) bool {
	origin := c.Get(fiber.HeaderOrigin)
	return origin == "" || origin == c.BaseURL()
}

func validCSRF(c *fiber.Ctx, want string) bool {
	got := c.Get(csrfHeader)
	if got == "" {
		got = c.FormValue(csrfField)
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// page wraps a handler that needs a session holding scope ("" for any): without a session
// it sends the browser to sign in; a POST must carry the session's CSRF token; a key
// without the scope gets a 403 page (the API would refuse it too). An API error the
// handler returns becomes an error page; a 401 ends the session.
func (cn *Console) page(scope string, h func(c *fiber.Ctx, s *session) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		s, err := cn.authenticate(c)
		if err != nil {
			return cn.fail(c, nil, err)
		}
		if s == nil {
			return cn.toSignIn(c, "")
		}
		if c.Method() != fiber.MethodGet && (!sameOrigin(c) || !validCSRF(c, s.csrf)) {
			return cn.render(c, s, http.StatusForbidden, "error", "Refused", errorView{
				Message: "This form was refused: it did not come from this console page (its security token is missing or out of date). Reload the page and try again."})
		}
		if scope != "" && !s.HasScope(scope) {
			return cn.render(c, s, http.StatusForbidden, "error", "No access", errorView{
				Message: "This key lacks the " + scope + " scope this page needs."})
		}
		if err := h(c, s); err != nil {
			return cn.fail(c, s, err)
		}
		return nil
	}
}

// toSignIn sends the browser to the sign-in page (an htmx request through HX-Redirect).
func (cn *Console) toSignIn(c *fiber.Ctx, reason string) error {
	to := Prefix + "/sign-in"
	if reason != "" {
		to += "?ended=" + reason
	}
	if c.Get("HX-Request") == "true" {
		c.Set("HX-Redirect", to)
		return c.SendStatus(http.StatusNoContent)
	}
	return c.Redirect(to, fiber.StatusSeeOther)
}

// fail shows an error: an API 401 means the key no longer works (revoked, expired, rotated
// past its grace), which ends every session of that key.
func (cn *Console) fail(c *fiber.Ctx, s *session, err error) error {
	var ae *APIError
	if !errors.As(err, &ae) {
		reqID, _ := c.Locals("request_id").(string)
		cn.log.Error("console page failed", "request_id", reqID, "path", c.Path(), "err", err)
		return cn.render(c, s, http.StatusInternalServerError, "error", "Something went wrong", errorView{
			Message: "Something went wrong on our side; it has been logged.", RequestID: reqID})
	}
	switch ae.Status {
	case http.StatusUnauthorized:
		if s != nil {
			if derr := cn.sessions.DeleteConsoleSessionsOf(c.UserContext(), s.KeyID); derr != nil {
				cn.log.Warn("ending the sessions of a key that no longer works", "key_id", s.KeyID, "err", derr)
			}
			cn.ended.add(s.TokenHash)
		}
		cn.setCookie(c, cookieName, "", -1)
		return cn.toSignIn(c, "key")
	case http.StatusNotFound:
		return cn.render(c, s, http.StatusNotFound, "error", "Not found", errorView{Message: ae.Message, RequestID: ae.RequestID})
	}
	status := ae.Status
	if status < 400 {
		status = http.StatusBadGateway
	}
	return cn.render(c, s, status, "error", "The API refused this", errorView{Message: ae.Message, RequestID: ae.RequestID})
}

type signInView struct {
	Error  string
	Ended  string
	Signin string // the sign-in form's CSRF token
}

// signInPage shows the sign-in form, with a fresh token for it in a cookie (a login form
// is protected against cross-site posts like every other).
func (cn *Console) signInPage(c *fiber.Ctx) error {
	return cn.showSignIn(c, http.StatusOK, "")
}

func (cn *Console) showSignIn(c *fiber.Ctx, status int, msg string) error {
	tok := randomToken()
	cn.setCookie(c, signInCookieName, tok, 3600)
	v := signInView{Error: msg, Signin: tok}
	switch c.Query("ended") {
	case "key":
		v.Ended = "Your session ended: its API key no longer works (revoked, expired or rotated). Sign in with a current key."
	case "out":
		v.Ended = "You are signed out."
	}
	return cn.render(c, nil, status, "sign-in", "Sign in", v)
}

type whoamiKey struct {
	KeyID    string   `json:"key_id"`
	TenantID string   `json:"tenant_id"`
	Name     string   `json:"name"`
	Prefix   string   `json:"prefix"`
	Scopes   []string `json:"scopes"`
}

// signIn exchanges an admin key for a session: the key is checked by the API (GET
// /whoami, which also applies the API's limit on failed attempts per address), then kept
// only sealed in the session row; the browser gets the session's token in an HttpOnly
// cookie and the key is never sent back, put in a URL or logged.
func (cn *Console) signIn(c *fiber.Ctx) error {
	want := c.Cookies(signInCookieName)
	if want == "" || !sameOrigin(c) || !validCSRF(c, want) {
		return cn.showSignIn(c, http.StatusForbidden, "The sign-in form had expired. Please try again.")
	}
	key := strings.TrimSpace(c.FormValue("api_key"))
	if key == "" || len(key) > maxKeyLen {
		return cn.showSignIn(c, http.StatusBadRequest, "Enter an admin API key (it starts with thr_).")
	}
	var who struct {
		Key whoamiKey `json:"key"`
	}
	if err := cn.callWith(c, key, http.MethodGet, "/api/v1/public/whoami", nil, &who, ""); err != nil {
		var ae *APIError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized:
			return cn.showSignIn(c, http.StatusUnauthorized, "That key does not work: it is unknown, revoked or expired.")
		case errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests:
			return cn.showSignIn(c, http.StatusTooManyRequests, "Too many attempts from this address. Wait a few seconds and try again.")
		}
		return cn.fail(c, nil, err)
	}
	admin := false
	for _, sc := range who.Key.Scopes {
		admin = admin || strings.HasPrefix(sc, "admin.")
	}
	if !admin {
		return cn.showSignIn(c, http.StatusForbidden, "That key has no admin scope (admin.keys, admin.automations, admin.actions, admin.settings or admin.audit), so it cannot use the console.")
	}
	token := randomToken()
	cs := &domain.ConsoleSession{TokenHash: tokenHash(token), TenantID: who.Key.TenantID, KeyID: who.Key.KeyID,
		KeyName: who.Key.Name, KeyPrefix: who.Key.Prefix, Scopes: who.Key.Scopes, SealedKey: sealBox(token).Seal(key, who.Key.KeyID)}
	if err := cn.sessions.CreateConsoleSession(c.UserContext(), cs, maxSessionsPerKey, IdleTimeout); err != nil {
		return cn.fail(c, nil, err)
	}
	cn.setCookie(c, signInCookieName, "", -1)
	cn.setCookie(c, cookieName, cn.signCookie(token), 0)
	return c.Redirect(Prefix+"/", fiber.StatusSeeOther)
}

// signOut ends the session.
func (cn *Console) signOut(c *fiber.Ctx) error {
	s, err := cn.authenticate(c)
	if err != nil {
		return cn.fail(c, nil, err)
	}
	if s != nil {
		if !sameOrigin(c) || !validCSRF(c, s.csrf) {
			return cn.render(c, s, http.StatusForbidden, "error", "Refused", errorView{Message: "Reload the page and sign out again."})
		}
		if err := cn.sessions.DeleteConsoleSession(c.UserContext(), s.TokenHash); err != nil {
			return cn.fail(c, s, err)
		}
		cn.ended.add(s.TokenHash)
	}
	cn.setCookie(c, cookieName, "", -1)
	return c.Redirect(Prefix+"/sign-in?ended=out", fiber.StatusSeeOther)
}
