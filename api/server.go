package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.temporal.io/sdk/client"

	"github.com/threada/threada/internal/actions"
	"github.com/threada/threada/internal/config"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/ratelimit"
	"github.com/threada/threada/internal/sealing"
	"github.com/threada/threada/internal/secretbox"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/internal/telemetry"
	"github.com/threada/threada/internal/timers"
)

const publicPrefix = "/api/v1/public"

// server holds what the handlers share.
type server struct {
	store   *store.Store
	actions *actions.Runner
	timers  *timers.Runner
	// consoleSecureCookies: CONSOLE_SECURE_COOKIES=always.
	consoleSecureCookies bool
	consoleCookieKey     []byte // tags the console's session cookies (see consoleCookieKey)
	log                  *slog.Logger
	spec                 []byte // the OpenAPI document as JSON
	caches               *caches
	limiter              *ratelimit.Limiter
	usage                *keyUsage
	denied               throttle
	box                  *secretbox.Box       // nil without SECRETS_KEY: signing secrets cannot be rotated
	tel                  *telemetry.Telemetry // metrics and traces; nil records nothing
	// keys seals Temporal payloads (nil without SECRETS_KEY); with codecToken the API
	// serves the codec endpoint for the Temporal UI at codecOrigin (see codec.go).
	keys        *sealing.Keyring
	codecToken  string
	codecOrigin string
	// dbTimeout bounds a request's database work, the wait for a pooled connection
	// included: past it the request answers 503 with Retry-After instead of hanging.
	dbTimeout time.Duration
	// cancelWait is how long a cancel waits for the run to acknowledge it.
	cancelWait time.Duration
}

// defaultDBTimeout is dbTimeout unless a test sets another.
const defaultDBTimeout = 5 * time.Second

func newServer(st *store.Store, runner *actions.Runner, log *slog.Logger, cfg config.Config, tel *telemetry.Telemetry) (*server, error) {
	spec, err := openAPIJSON()
	if err != nil {
		return nil, err
	}
	s := &server{store: st, actions: runner, timers: timers.NewRunner(runner.Client(), st, runner, log, cfg.TemporalNamespace, cfg.TaskQueue), log: log, spec: spec, caches: newCaches(st),
		limiter: ratelimit.New(cfg.RateLimitKeyRPS, cfg.RateLimitTenantRPS, cfg.RateLimitProcesses).WithUnauthenticated(cfg.RateLimitUnauthenticatedRPS),
		usage:   &keyUsage{store: st, log: log}, dbTimeout: defaultDBTimeout, cancelWait: defaultCancelWait, tel: tel}
	s.limiter.Metrics = tel.Metered()
	s.consoleSecureCookies = cfg.ConsoleSecureCookies
	if cfg.SecretsKey != "" {
		if s.box, err = cfg.Box(); err != nil {
			return nil, err
		}
	}
	s.consoleCookieKey = consoleCookieKey(s.box, log)
	s.codecToken, s.codecOrigin = cfg.CodecToken, originOf(cfg.TemporalUIURL)
	return s, nil
}

// boundDatabaseWork gives the request's context a deadline of dbTimeout, which every store
// call (and the wait for a pooled connection) honours. Waits that are not database work
// (Prefer: wait, a canceled run's end) run on their own clocks.
func (s *server) boundDatabaseWork(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), s.dbTimeout)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}

// background runs the server's upkeep until ctx ends: cache invalidations from other
// processes, dropping idle rate limit buckets every minute and, every hour, stored
// idempotent responses past their replay window (several API processes may sweep at
// once; the DELETE is idempotent).
func (s *server) background(ctx context.Context) {
	go s.caches.listen(ctx, s.store, s.log)
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for tick := 1; ; tick++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.limiter.Sweep(time.Minute)
		if tick%60 != 0 {
			continue
		}
		n, err := s.store.DeleteExpiredIdempotencyKeys(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("sweeping idempotency keys", "err", err)
		case n > 0:
			s.log.Info("swept idempotency keys", "deleted", n)
		}
	}
}

// app builds the Fiber application with every route and the public error handling.
func (s *server) app() *fiber.App {
	onError := errorHandler(s.log)
	app := fiber.New(fiber.Config{
		AppName:               "threada-api",
		BodyLimit:             bodyLimit,
		ErrorHandler:          onError,
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          60 * time.Second,
		IdleTimeout:           2 * time.Minute,
		// Values read from the request outlive the handler (stored responses, logs), so
		// they must not alias fasthttp's reused buffers.
		Immutable: true,
	})
	app.Use(s.observe, requestID, accessLog(s.log, onError), recoverPanic(s.log), s.boundDatabaseWork)

	app.Get("/livez", s.livez)
	app.Get("/readyz", s.readyz)

	read := s.authorize(domain.ScopeSupportRead)
	write := s.authorize(domain.ScopeSupportWrite)
	act := s.authorize(domain.ScopeSupportActions)
	readActions := s.authorize(domain.ScopeSupportRead, domain.ScopeSupportActions)

	pub := app.Group(publicPrefix)
	pub.Get("/openapi.json", s.openAPI)
	pub.Get("/tickets", read, s.listTickets)
	pub.Post("/tickets", write, s.writes(s.createTicket))
	pub.Get("/tickets/:ticket_id", read, s.getTicket)
	pub.Patch("/tickets/:ticket_id", write, s.writes(s.updateTicket))
	pub.Delete("/tickets/:ticket_id", write, s.writes(s.deleteTicket))
	pub.Get("/tickets/:ticket_id/messages", read, s.listMessages)
	pub.Post("/tickets/:ticket_id/messages", write, s.writes(s.addMessage))
	pub.Get("/tickets/:ticket_id/actions", readActions, s.listActions)
	pub.Post("/tickets/:ticket_id/actions", act, s.preferWait, s.writes(s.createAction))
	pub.Get("/actions/:action_id", readActions, s.getAction)
	pub.Post("/actions/:action_id/cancel", act, s.writes(s.cancelAction))
	pub.Get("/actions/:action_id/attempts", readActions, s.listAttempts)
	pub.Post("/actions/:action_id/replay", act, s.preferWait, s.writes(s.replayAction))
	pub.Get("/whoami", s.authorize(domain.AllScopes...), s.whoami)

	auto := s.authorize(domain.ScopeAdminAutomations)
	admin := app.Group(adminPrefix)
	admin.Get("/automations", auto, s.listAutomations)
	admin.Post("/automations", auto, s.writes(s.createAutomation))
	postOnly(admin, "/automations/test", auto, s.writes(s.testAutomation))
	postOnly(admin, "/automations/backtest", auto, s.backtestAutomation)
	postOnly(admin, "/automations/validate", auto, s.validateAutomation)
	admin.Get("/automations/:automation_id", auto, s.getAutomation)
	admin.Patch("/automations/:automation_id", auto, s.writes(s.updateAutomation))
	admin.Delete("/automations/:automation_id", auto, s.writes(s.deleteAutomation))
	admin.Get("/automations/:automation_id/runs", auto, s.listRuns)
	admin.Get("/automations/:automation_id/timers", auto, s.listTimers)
	admin.Get("/sla-policies", auto, s.listSLAPolicies)
	admin.Post("/sla-policies", auto, s.writes(s.createSLAPolicy))
	postOnly(admin, "/sla-policies/preview", auto, s.previewSLAPolicy)
	admin.Get("/sla-policies/:sla_policy_id", auto, s.getSLAPolicy)
	admin.Patch("/sla-policies/:sla_policy_id", auto, s.writes(s.updateSLAPolicy))
	admin.Delete("/sla-policies/:sla_policy_id", auto, s.writes(s.deleteSLAPolicy))

	keys := s.authorize(domain.ScopeAdminKeys)
	admin.Get("/api-keys", keys, s.listKeys)
	admin.Post("/api-keys", keys, s.writes(s.createKey))
	admin.Get("/api-keys/:key_id", keys, s.getKey)
	admin.Post("/api-keys/:key_id/rotate", keys, s.writes(s.rotateKey))
	admin.Post("/api-keys/:key_id/revoke", keys, s.writes(s.revokeKey))

	settings := s.authorize(domain.ScopeAdminSettings)
	admin.Get("/settings", settings, s.getSettings)
	admin.Patch("/settings", settings, s.writes(s.updateSettings))
	admin.Post("/settings/signing-secret/rotate", settings, s.writes(s.rotateSigningSecret))
	admin.Post("/erasures", settings, s.writes(s.createErasure))
	admin.Get("/erasures/:erasure_id", settings, s.getErasure)

	admin.Get("/audit-events", s.authorize(domain.ScopeAdminAudit), s.listAudit)

	adminActions := s.authorize(domain.ScopeAdminActions)
	admin.Post("/action-replays", adminActions, s.writes(s.createReplayBatch))
	admin.Get("/action-replays/:replay_id", adminActions, s.getReplayBatch)
	admin.Post("/action-replays/:replay_id/cancel", adminActions, s.writes(s.cancelReplayBatch))
	admin.Get("/destinations", adminActions, s.listDestinations)
	admin.Get("/actions", adminActions, s.listTenantActions)

	s.mountCodec(app)
	s.mountConsole(app) // last: it calls the routes above in process
	return app
}

// livez answers while the process serves HTTP; it checks nothing else, so an orchestrator
// restarts the process only when it is stuck, never because a dependency is down.
func (s *server) livez(c *fiber.Ctx) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyzTemporalTimeout bounds readyz's check of Temporal.
const readyzTemporalTimeout = 2 * time.Second

// readyz checks PostgreSQL and Temporal. It answers 200 while PostgreSQL answers, saying
// whether Temporal does: without Temporal the API still serves everything and accepts
// actions (the worker's relay starts them later), so taking it out of a load balancer
// then would refuse requests it can serve. Without PostgreSQL it answers 503.
func (s *server) readyz(c *fiber.Ctx) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	if err := s.store.Ping(c.UserContext()); err != nil {
		s.log.Warn("not ready", "err", err)
		return domain.Errorf(domain.EUNAVAILABLE, "The database is unreachable.")
	}
	temporal := "ok"
	if s.actions == nil {
		temporal = "unreachable"
	} else {
		ctx, cancel := context.WithTimeout(c.UserContext(), readyzTemporalTimeout)
		defer cancel()
		if _, err := s.actions.Client().CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			temporal = "unreachable"
		}
	}
	return c.JSON(fiber.Map{"status": "ready", "checks": fiber.Map{"postgres": "ok", "temporal": temporal}})
}

func (s *server) openAPI(c *fiber.Ctx) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(s.spec)
}
