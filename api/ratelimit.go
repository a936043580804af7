package main

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/telemetry"
)

// burstSeconds is how many seconds of a bucket's rate it can spend at once.
const burstSeconds = 2

// limiter keeps a token bucket per key and per tenant, in this process. With several API
// processes each enforces its share of the limit (the configured rate divided by
// RATE_LIMIT_PROCESSES), which holds when a load balancer spreads requests evenly; no
// request waits on a shared store.
type limiter struct {
	keyRPS, tenantRPS int // defaults; 0 turns that limit off
	anonRPS           int // requests without a valid key, per client address; 0: off
	processes         int
	buckets           sync.Map // "key:<id>" / "tenant:<id>" -> *bucket
	now               func() time.Time
	metrics           *telemetry.Metrics // counts refusals; nil counts nothing
}

type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// decision is what one bucket said about a request.
type decision struct {
	allowed    bool
	rate       float64 // tokens per second
	burst      float64
	remaining  float64
	retryAfter time.Duration // when refused
}

func newLimiter(keyRPS, tenantRPS, processes int) *limiter {
	return &limiter{keyRPS: keyRPS, tenantRPS: tenantRPS, processes: max(processes, 1), now: time.Now}
}

// withUnauthenticated limits requests that present no valid key to rps per client address.
func (l *limiter) withUnauthenticated(rps int) *limiter {
	l.anonRPS = rps
	return l
}

// take spends one token from the bucket name with the given rate per second.
func (l *limiter) take(name string, rps int) decision {
	rate := float64(rps) / float64(l.processes)
	burst := math.Max(rate*burstSeconds, 1)
	now := l.now()
	v, _ := l.buckets.LoadOrStore(name, &bucket{tokens: burst, last: now})
	b := v.(*bucket)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = math.Min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	d := decision{rate: rate, burst: burst}
	if b.tokens >= 1 {
		b.tokens--
		d.allowed, d.remaining = true, b.tokens
		return d
	}
	d.remaining = b.tokens
	d.retryAfter = time.Duration((1 - b.tokens) / rate * float64(time.Second))
	return d
}

// allow checks the key's and its tenant's buckets (the tenant's settings override the
// defaults) and sets the RateLimit headers from the tighter of the two. A refused request
// is a 429 rate_limit_error with Retry-After.
func (l *limiter) allow(c *fiber.Ctx, key *domain.APIKey, tenant *domain.Tenant) error {
	keyRPS, tenantRPS := l.keyRPS, l.tenantRPS
	if tenant != nil && tenant.RateLimitKeyRPS != nil {
		keyRPS = *tenant.RateLimitKeyRPS
	}
	if tenant != nil && tenant.RateLimitTenantRPS != nil {
		tenantRPS = *tenant.RateLimitTenantRPS
	}
	var tightest *decision
	refusedBy := ""
	consider := func(limit, name string, rps int) bool {
		if rps <= 0 {
			return true
		}
		d := l.take(name, rps)
		if tightest == nil || !d.allowed || (tightest.allowed && d.remaining < tightest.remaining) {
			tightest = &d
		}
		if !d.allowed {
			refusedBy = limit
		}
		return d.allowed
	}
	ok := consider("key", "key:"+key.ID, keyRPS) && consider("tenant", "tenant:"+key.TenantID, tenantRPS)
	if tightest == nil {
		return nil // no limit applies
	}
	d := tightest
	c.Set("RateLimit-Limit", strconv.Itoa(int(d.burst)))
	c.Set("RateLimit-Remaining", strconv.Itoa(int(math.Floor(d.remaining))))
	c.Set("RateLimit-Reset", strconv.Itoa(int(math.Ceil((d.burst-d.remaining)/d.rate))))
	c.Set("RateLimit-Policy", fmt.Sprintf("%g;w=1;burst=%d", d.rate, int(d.burst)))
	if ok {
		return nil
	}
	l.metrics.RateLimited(refusedBy)
	secs := int(math.Ceil(d.retryAfter.Seconds()))
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(secs, 1)))
	return domain.Errorf(domain.ERATELIMIT, "Too many requests: this key or tenant is limited to %g requests per second (bursts of %d). Retry after %d s.", d.rate, int(d.burst), max(secs, 1))
}

// refuseUnauthenticated spends a token of the client address's allowance for a request
// that presented no valid key, or a key id this process has to look up for the first
// time, and returns the 429 that replaces its 401 (or its lookup) once the allowance is
// spent. A request spends at most one token: a lookup it paid for and the 401 that may
// follow are one attempt. A key this process has seen is never held back by it.
func (l *limiter) refuseUnauthenticated(c *fiber.Ctx) error {
	if l.anonRPS <= 0 || c.Locals(localUnauthenticatedSpent) != nil {
		return nil
	}
	c.Locals(localUnauthenticatedSpent, true)
	d := l.take("anon:"+c.IP(), l.anonRPS)
	if d.allowed {
		return nil
	}
	l.metrics.RateLimited("unauthenticated")
	secs := max(int(math.Ceil(d.retryAfter.Seconds())), 1)
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
	return domain.Errorf(domain.ERATELIMIT, "Too many requests from this address with an API key that is missing, not valid or not yet known to this server: at most %g per second. Retry after %d s.", d.rate, secs)
}

// sweep drops buckets idle long enough to be full again, so keys that went quiet cost no
// memory.
func (l *limiter) sweep(idle time.Duration) {
	cutoff := l.now().Add(-idle)
	l.buckets.Range(func(k, v any) bool {
		b := v.(*bucket)
		b.mu.Lock()
		old := b.last.Before(cutoff)
		b.mu.Unlock()
		if old {
			l.buckets.Delete(k)
		}
		return true
	})
}
