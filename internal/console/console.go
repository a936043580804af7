// Package console is Threada's admin web console, served by the api binary at /admin. It
// is a client of the admin and public HTTP APIs like any other: every page is built from
// API calls made with the signed-in session's key (in process, through the API's own
// handlers, so authentication, scopes, rate limits, validation and the audit log all
// apply), and it keeps no data of its own but its sessions. Pages are server-rendered
// html/template with htmx for the live parts (validation as you type, test panel,
// backtest, replay progress); htmx and the stylesheet are embedded, nothing is fetched
// from elsewhere and nothing needs building.
package console

import (
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"

	"github.com/threada/threada/internal/domain"
)

// Prefix is where the console is served.
const Prefix = "/admin"

//go:embed static
var staticFiles embed.FS

// Console serves the admin web console.
type Console struct {
	api      API
	sessions Sessions
	log      *slog.Logger
	pages    *pages
	now      func() time.Time

	// cookieKey tags session cookies (see signCookie); ended remembers sessions found gone.
	cookieKey []byte
	ended     endedSessions

	// SecureCookies marks cookies Secure on every response; otherwise only on requests
	// that came over TLS (see config.ConsoleSecureCookies).
	SecureCookies bool
}

// New returns the console over api (called with each session's key) and sessions (where
// signed-in sessions are kept, shared by every API process). cookieKey, at least 32 random
// bytes that every API process shares, tags session cookies so that they are checked
// without the database.
func New(api API, sessions Sessions, cookieKey []byte, log *slog.Logger) (*Console, error) {
	if len(cookieKey) < minCookieKeyLen {
		return nil, fmt.Errorf("console: the cookie key must be at least %d bytes", minCookieKeyLen)
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	return &Console{api: api, sessions: sessions, cookieKey: cookieKey, log: log, pages: p, now: time.Now}, nil
}

// Register mounts the console's routes on app under Prefix.
func (cn *Console) Register(app fiber.Router) {
	static, _ := fs.Sub(staticFiles, "static")
	g := app.Group(Prefix, cn.headers)
	g.Use("/static", filesystem.New(filesystem.Config{Root: http.FS(static), MaxAge: 3600}))
	g.Get("/sign-in", cn.signInPage)
	g.Post("/sign-in", cn.signIn)
	g.Post("/sign-out", cn.signOut)

	g.Get("/", cn.page("", cn.home))
	g.Get("/keys", cn.page(domain.ScopeAdminKeys, cn.keysPage))
	g.Post("/keys", cn.page(domain.ScopeAdminKeys, cn.createKey))
	g.Get("/keys/:key_id/rotate", cn.page(domain.ScopeAdminKeys, cn.rotateKeyPage))
	g.Post("/keys/:key_id/rotate", cn.page(domain.ScopeAdminKeys, cn.rotateKey))
	g.Get("/keys/:key_id/revoke", cn.page(domain.ScopeAdminKeys, cn.revokeKeyPage))
	g.Post("/keys/:key_id/revoke", cn.page(domain.ScopeAdminKeys, cn.revokeKey))

	g.Get("/automations", cn.page(domain.ScopeAdminAutomations, cn.automationsPage))
	g.Get("/automations/new", cn.page(domain.ScopeAdminAutomations, cn.newAutomationPage))
	g.Post("/automations", cn.page(domain.ScopeAdminAutomations, cn.createAutomation))
	g.Post("/automations/validate", cn.page(domain.ScopeAdminAutomations, cn.validateDraft))
	g.Post("/automations/test", cn.page(domain.ScopeAdminAutomations, cn.testDraft))
	g.Post("/automations/backtest", cn.page(domain.ScopeAdminAutomations, cn.backtestDraft))
	g.Get("/automations/:automation_id", cn.page(domain.ScopeAdminAutomations, cn.automationPage))
	g.Post("/automations/:automation_id", cn.page(domain.ScopeAdminAutomations, cn.updateAutomation))
	g.Post("/automations/:automation_id/move", cn.page(domain.ScopeAdminAutomations, cn.moveAutomation))
	g.Post("/automations/:automation_id/enabled", cn.page(domain.ScopeAdminAutomations, cn.toggleAutomation))

	g.Get("/sla-policies", cn.page(domain.ScopeAdminAutomations, cn.slaPoliciesPage))
	g.Get("/sla-policies/new", cn.page(domain.ScopeAdminAutomations, cn.newSLAPolicyPage))
	g.Post("/sla-policies", cn.page(domain.ScopeAdminAutomations, cn.createSLAPolicy))
	g.Post("/sla-policies/validate", cn.page(domain.ScopeAdminAutomations, cn.validateSLACondition))
	g.Post("/sla-policies/preview", cn.page(domain.ScopeAdminAutomations, cn.previewSLADraft))
	g.Get("/sla-policies/:sla_policy_id", cn.page(domain.ScopeAdminAutomations, cn.slaPolicyPage))
	g.Post("/sla-policies/:sla_policy_id", cn.page(domain.ScopeAdminAutomations, cn.updateSLAPolicy))
	g.Post("/sla-policies/:sla_policy_id/move", cn.page(domain.ScopeAdminAutomations, cn.moveSLAPolicy))
	g.Post("/sla-policies/:sla_policy_id/enabled", cn.page(domain.ScopeAdminAutomations, cn.toggleSLAPolicy))
	g.Get("/sla-policies/:sla_policy_id/delete", cn.page(domain.ScopeAdminAutomations, cn.deleteSLAPolicyPage))
	g.Post("/sla-policies/:sla_policy_id/delete", cn.page(domain.ScopeAdminAutomations, cn.deleteSLAPolicy))

	g.Get("/actions", cn.page(domain.ScopeAdminActions, cn.actionsPage))
	g.Get("/actions/:action_id", cn.page(domain.ScopeAdminActions, cn.actionPage))
	g.Post("/actions/:action_id/replay", cn.page(domain.ScopeAdminActions, cn.replayAction))
	g.Get("/replays", cn.page(domain.ScopeAdminActions, cn.replaysPage))
	g.Post("/replays", cn.page(domain.ScopeAdminActions, cn.createReplay))
	g.Get("/replays/:replay_id", cn.page(domain.ScopeAdminActions, cn.replayPage))
	g.Post("/replays/:replay_id/cancel", cn.page(domain.ScopeAdminActions, cn.cancelReplay))
	g.Get("/destinations", cn.page(domain.ScopeAdminActions, cn.destinationsPage))

	g.Get("/settings", cn.page(domain.ScopeAdminSettings, cn.settingsPage))
	g.Post("/settings", cn.page(domain.ScopeAdminSettings, cn.updateSettings))
	g.Get("/settings/signing-secret", cn.page(domain.ScopeAdminSettings, cn.rotateSecretPage))
	g.Post("/settings/signing-secret", cn.page(domain.ScopeAdminSettings, cn.rotateSecret))

	g.Get("/audit", cn.page(domain.ScopeAdminAudit, cn.auditPage))
	g.All("/*", cn.notFound)
}

// headers sets what every console response carries: no caching (pages show secrets once
// and tenant data), no framing, no referrer outside the console (filters stay in it; a
// policy of no-referrer would make browsers send Origin: null on our own forms), and a content
// security policy that allows only the console's own scripts and styles.
func (cn *Console) headers(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "same-origin")
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	if strings.HasPrefix(c.Path(), Prefix+"/static/") {
		c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	}
	return c.Next()
}

// navItem is one entry of the menu; the menu lists only what the session's key may use.
type navItem struct {
	Path, Label, Scope string
}

var nav = []navItem{
	{"/admin/keys", "API keys", domain.ScopeAdminKeys},
	{"/admin/automations", "Automations", domain.ScopeAdminAutomations},
	{"/admin/sla-policies", "SLA policies", domain.ScopeAdminAutomations},
	{"/admin/actions", "Action runs", domain.ScopeAdminActions},
	{"/admin/replays", "Bulk replay", domain.ScopeAdminActions},
	{"/admin/destinations", "Destinations", domain.ScopeAdminActions},
	{"/admin/settings", "Settings", domain.ScopeAdminSettings},
	{"/admin/audit", "Audit log", domain.ScopeAdminAudit},
}

// home sends the admin to the first page the key may use.
func (cn *Console) home(c *fiber.Ctx, s *session) error {
	for _, n := range nav {
		if s.HasScope(n.Scope) {
			return c.Redirect(n.Path, fiber.StatusSeeOther)
		}
	}
	return cn.render(c, s, http.StatusForbidden, "error", "No access", errorView{Message: "This key has no admin scope, so there is nothing here it may use."})
}

func (cn *Console) notFound(c *fiber.Ctx) error {
	return cn.render(c, nil, http.StatusNotFound, "error", "Not found", errorView{Message: "There is no console page at " + c.Path() + "."})
}
