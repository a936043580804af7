package main

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/threada/threada/internal/auth"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

const (
	headerRequestID      = "X-Request-Id"
	headerAPIKey         = "X-Api-Key"
	headerIdempotencyKey = "Idempotency-Key"
	headerReplayed       = "Idempotent-Replayed"
	headerOriginalReqID  = "Original-Request-Id"

	localRequestID  = "request_id"
	localKey        = "api_key"
	localStoredBody = "stored_body" // what an idempotent replay returns, if not the response
	// localUnauthenticatedSpent marks a request that spent its address's allowance.
	localUnauthenticatedSpent = "unauthenticated_spent"

	maxRequestIDLen      = 200
	maxIdempotencyKeyLen = 255
)

// requestID keeps a well-formed X-Request-Id from the client or makes one, and echoes it.
func requestID(c *fiber.Ctx) error {
	ensureRequestID(c)
	return c.Next()
}

func ensureRequestID(c *fiber.Ctx) string {
	if id, ok := c.Locals(localRequestID).(string); ok {
		return id
	}
	id := c.Get(headerRequestID)
	if !printableToken(id, maxRequestIDLen) {
		id = domain.NewID(domain.PrefixRequest)
	}
	c.Locals(localRequestID, id)
	c.Set(headerRequestID, id)
	return id
}

// printableToken reports whether s is 1..max visible ASCII characters.
func printableToken(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// accessLog writes one line per request and turns a handler's error into its response
// here, so the line carries the final status.
func accessLog(log *slog.Logger, onError fiber.ErrorHandler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		if err := c.Next(); err != nil {
			if herr := onError(c, err); herr != nil {
				return herr
			}
		}
		attrs := []any{
			"request_id", ensureRequestID(c),
			"method", c.Method(),
			"route", c.Route().Path,
			"path", loggablePath(c.Path()),
			"status", c.Response().StatusCode(),
			"duration_ms", float64(time.Since(start).Microseconds()) / 1000,
			"ip", c.IP(),
		}
		if k, ok := c.Locals(localKey).(*domain.APIKey); ok {
			attrs = append(attrs, "tenant_id", k.TenantID, "key_id", k.ID)
		}
		if sc := trace.SpanContextFromContext(c.UserContext()); sc.IsValid() {
			attrs = append(attrs, "trace_id", sc.TraceID().String())
		}
		log.Info("request", attrs...)
		return nil
	}
}

// recoverPanic turns a panic into a 500 and logs its stack with the request id.
func recoverPanic(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("panic", "request_id", ensureRequestID(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return c.Next()
	}
}

// authorize authenticates the X-Api-Key, applies the rate limits and requires one of
// scopes. Keys and tenant settings come from the in-process caches, so a request costs no
// database round trip here; a request without a valid key costs one at most, and only
// within its address's allowance.
func (s *server) authorize(scopes ...string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := s.authenticate(c); err != nil {
			if domain.ErrorCode(err) == domain.EUNAUTHENTICATED {
				if limited := s.refuseUnauthenticated(c); limited != nil {
					return limited
				}
			}
			return err
		}
		key := keyOf(c)
		for _, scope := range scopes {
			if key.HasScope(scope) {
				return c.Next()
			}
		}
		need := "the " + scopes[0] + " scope"
		if len(scopes) > 1 {
			need = "one of the scopes " + strings.Join(scopes, " or ")
		}
		s.auditDenied(c, key, "missing scope: "+strings.Join(scopes, " or "))
		return domain.Errorf(domain.EFORBIDDEN, "This API key lacks %s required for %s %s.", need, c.Method(), c.Route().Path)
	}
}

// authenticate checks the X-Api-Key, stores the key in the request and applies the rate
// limits; EUNAUTHENTICATED when the key is missing, unknown, wrong, revoked or expired.
func (s *server) authenticate(c *fiber.Ctx) error {
	secret := c.Get(headerAPIKey)
	if secret == "" {
		return domain.Errorf(domain.EUNAUTHENTICATED, "No API key provided. Send your key in the X-Api-Key header.")
	}
	keyID, ok := auth.KeyIDFromSecret(secret)
	if !ok {
		return domain.Errorf(domain.EUNAUTHENTICATED, "Invalid API key provided.")
	}
	ctx := c.UserContext()
	// Key ids are easy to make up: looking up one this process knows nothing about spends
	// the address's allowance first, so a flood of made-up ids costs no query past it.
	ak, err := s.caches.keys.Get(ctx, keyID, func() error { return s.refuseUnauthenticated(c) })
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return domain.Errorf(domain.EUNAUTHENTICATED, "Invalid API key provided.")
	}
	if err != nil {
		return err
	}
	now := time.Now()
	key := &ak.Key
	graceOK := ak.PreviousHash != nil && key.PreviousExpiresAt != nil && now.Before(*key.PreviousExpiresAt)
	if !auth.Matches(secret, ak.Hash) && !(graceOK && auth.Matches(secret, ak.PreviousHash)) {
		return domain.Errorf(domain.EUNAUTHENTICATED, "Invalid API key provided.")
	}
	switch {
	case key.RevokedAt != nil:
		s.auditDenied(c, key, "revoked")
		return domain.Errorf(domain.EUNAUTHENTICATED, "This API key (%s) has been revoked.", key.ID)
	case key.Expired(now):
		s.auditDenied(c, key, "expired")
		return domain.Errorf(domain.EUNAUTHENTICATED, "This API key (%s) expired at %s.", key.ID, key.ExpiresAt.UTC().Format(time.RFC3339))
	}
	c.Locals(localKey, key)
	c.SetUserContext(domain.WithOrigin(ctx, domain.Origin{Actor: "api_key:" + key.ID}))
	tenant, err := s.caches.tenants.Get(ctx, key.TenantID, nil)
	if err != nil {
		return err
	}
	if err := s.rateLimit(c, key, tenant); err != nil {
		return err
	}
	s.usage.touch(key.ID, now)
	return nil
}

// keyOf returns the authenticated key; only routes behind authorize call it.
func keyOf(c *fiber.Ctx) *domain.APIKey { return c.Locals(localKey).(*domain.APIKey) }

// writeHandler is a handler that writes. It makes its store calls on db: the transaction
// of the request's Idempotency-Key when a POST carries one, else the pool, where each call
// is atomic on its own. Writes that must commit together go in one db.InTx (see txn),
// which joins the key's transaction when there is one, so they are atomic either way.
// Its reads go through db too: a second connection taken while db holds one could wait on
// a pool that such handlers have used up.
type writeHandler func(c *fiber.Ctx, db *store.Conn) error

// writes runs h, giving a POST Stripe's Idempotency-Key semantics: the handler's writes
// and the stored response commit together, a replay returns the stored response marked
// Idempotent-Replayed, a different body is 400 idempotency_error and a request still
// running is 409.
func (s *server) writes(h writeHandler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ikey, given := idempotencyKey(c)
		if !given || c.Method() != fiber.MethodPost {
			return h(c, &s.store.Conn)
		}
		return s.idempotent(c, ikey, h)
	}
}

// idempotencyKey returns the request's Idempotency-Key and whether the header is there at
// all: a header sent empty or blank is there (and refused), never taken as absent, so a
// client whose key variable came out empty learns it instead of losing its protection.
func idempotencyKey(c *fiber.Ctx) (key string, given bool) {
	c.Request().Header.VisitAll(func(k, v []byte) {
		if !given && strings.EqualFold(string(k), headerIdempotencyKey) {
			key, given = string(v), true
		}
	})
	return key, given
}

func (s *server) idempotent(c *fiber.Ctx, ikey string, h writeHandler) error {
	if !printableToken(ikey, maxIdempotencyKeyLen) {
		return domain.Invalidf(headerIdempotencyKey, "Idempotency-Key must be 1 to %d visible ASCII characters.", maxIdempotencyKeyLen)
	}
	key := keyOf(c)
	fp := sha256.New()
	fmt.Fprintf(fp, "%s\n%s\n", c.Method(), c.Path())
	fp.Write(c.Body())
	req := store.IdempotentRequest{
		TenantID: key.TenantID, KeyID: key.ID, Key: ikey,
		Fingerprint: fp.Sum(nil), RequestID: ensureRequestID(c),
	}
	ctx := c.UserContext()
	resp, replayed, err := s.store.Idempotent(ctx, req, func(tx *store.Conn) (*store.StoredResponse, error) {
		if err := h(c, tx); err != nil {
			return nil, err
		}
		body := c.Response().Body()
		if stored, ok := c.Locals(localStoredBody).([]byte); ok {
			body = stored // the handler's version without the secret it showed once
		}
		return &store.StoredResponse{StatusCode: c.Response().StatusCode(), Body: append([]byte(nil), body...)}, nil
	})
	if err != nil {
		return err
	}
	if replayed {
		c.Set(headerReplayed, "true")
		c.Set(headerOriginalReqID, resp.RequestID)
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Status(resp.StatusCode).Send(resp.Body)
	}
	return nil
}
