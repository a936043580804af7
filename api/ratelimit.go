package main

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
)

// rateLimit applies the key's and its tenant's limits (internal/ratelimit) and sets the
// RateLimit headers from the tighter of the two. A refused request is a 429
// rate_limit_error with Retry-After.
func (s *server) rateLimit(c *fiber.Ctx, key *domain.APIKey, tenant *domain.Tenant) error {
	d, applies := s.limiter.Request(key, tenant)
	if !applies {
		return nil
	}
	d.Headers(func(k, v string) { c.Set(k, v) })
	if d.Allowed {
		return nil
	}
	secs := d.RetryAfterSeconds()
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
	return domain.Errorf(domain.ERATELIMIT, "Too many requests: this key or tenant is limited to %g requests per second (bursts of %d). Retry after %d s.", d.Rate, int(d.Burst), secs)
}

// refuseUnauthenticated spends a token of the client address's allowance for a request
// that presented no valid key, or a key id this process has to look up for the first
// time, and returns the 429 that replaces its 401 (or its lookup) once the allowance is
// spent. A request spends at most one token: a lookup it paid for and the 401 that may
// follow are one attempt. A key this process has seen is never held back by it.
func (s *server) refuseUnauthenticated(c *fiber.Ctx) error {
	if c.Locals(localUnauthenticatedSpent) != nil {
		return nil
	}
	d, applies := s.limiter.Unauthenticated(c.IP())
	if !applies {
		return nil
	}
	c.Locals(localUnauthenticatedSpent, true)
	if d.Allowed {
		return nil
	}
	secs := d.RetryAfterSeconds()
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
	return domain.Errorf(domain.ERATELIMIT, "Too many requests from this address with an API key that is missing, not valid or not yet known to this server: at most %g per second. Retry after %d s.", d.Rate, secs)
}
