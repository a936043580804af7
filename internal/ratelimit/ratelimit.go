// Package ratelimit keeps token buckets per API key, per tenant and per client address,
// in one process. With several API processes each enforces its share of a limit (the
// configured rate divided by the number of processes), which holds when a load balancer
// spreads requests evenly; no request waits on a shared store. The API turns a Decision
// into RateLimit headers and a 429.
package ratelimit

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/telemetry"
)

// BurstSeconds is how many seconds of a bucket's rate it can spend at once.
const BurstSeconds = 2

// Limiter keeps the buckets. KeyRPS and TenantRPS are the defaults a tenant's settings
// override; AnonRPS limits requests without a valid key, per client address. 0 turns a
// limit off.
type Limiter struct {
	KeyRPS, TenantRPS int
	AnonRPS           int
	processes         int
	buckets           sync.Map // "key:<id>" / "tenant:<id>" / "anon:<addr>" -> *bucket
	// Now is the clock (tests set their own); Metrics counts refusals (nil counts nothing).
	Now     func() time.Time
	Metrics *telemetry.Metrics
}

type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// New returns a Limiter with these defaults, shared by processes API processes.
func New(keyRPS, tenantRPS, processes int) *Limiter {
	return &Limiter{KeyRPS: keyRPS, TenantRPS: tenantRPS, processes: max(processes, 1), Now: time.Now}
}

// WithUnauthenticated limits requests that present no valid key to rps per client address.
func (l *Limiter) WithUnauthenticated(rps int) *Limiter {
	l.AnonRPS = rps
	return l
}

// Decision is what a bucket said about a request.
type Decision struct {
	Allowed    bool
	Rate       float64 // tokens per second
	Burst      float64
	Remaining  float64
	RetryAfter time.Duration // when refused
	RefusedBy  string        // "key", "tenant" or "unauthenticated", when refused
}

// take spends one token from the bucket name with the given rate per second.
func (l *Limiter) take(name string, rps int) Decision {
	rate := float64(rps) / float64(l.processes)
	burst := math.Max(rate*BurstSeconds, 1)
	now := l.Now()
	v, _ := l.buckets.LoadOrStore(name, &bucket{tokens: burst, last: now})
	b := v.(*bucket)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = math.Min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	d := Decision{Rate: rate, Burst: burst}
	if b.tokens >= 1 {
		b.tokens--
		d.Allowed, d.Remaining = true, b.tokens
		return d
	}
	d.Remaining = b.tokens
	d.RetryAfter = time.Duration((1 - b.tokens) / rate * float64(time.Second))
	return d
}

// EffectiveRPS are the key and tenant limits that apply to the tenant: its settings, or
// the defaults.
func (l *Limiter) EffectiveRPS(tenant *domain.Tenant) (keyRPS, tenantRPS int) {
	keyRPS, tenantRPS = l.KeyRPS, l.TenantRPS
	if tenant != nil && tenant.RateLimitKeyRPS != nil {
		keyRPS = *tenant.RateLimitKeyRPS
	}
	if tenant != nil && tenant.RateLimitTenantRPS != nil {
		tenantRPS = *tenant.RateLimitTenantRPS
	}
	return keyRPS, tenantRPS
}

// Request spends a token of the key's bucket and then of its tenant's, and returns the
// tighter decision of the two; applies is false when no limit is on.
func (l *Limiter) Request(key *domain.APIKey, tenant *domain.Tenant) (d Decision, applies bool) {
	keyRPS, tenantRPS := l.EffectiveRPS(tenant)
	var tightest *Decision
	consider := func(limit, name string, rps int) bool {
		if rps <= 0 {
			return true
		}
		d := l.take(name, rps)
		if !d.Allowed {
			d.RefusedBy = limit
		}
		if tightest == nil || !d.Allowed || (tightest.Allowed && d.Remaining < tightest.Remaining) {
			tightest = &d
		}
		return d.Allowed
	}
	_ = consider("key", "key:"+key.ID, keyRPS) && consider("tenant", "tenant:"+key.TenantID, tenantRPS)
	if tightest == nil {
		return Decision{}, false
	}
	if !tightest.Allowed {
		l.Metrics.RateLimited(tightest.RefusedBy)
	}
	return *tightest, true
}

// Unauthenticated spends a token of a client address's allowance for requests without a
// valid key; applies is false when that limit is off.
func (l *Limiter) Unauthenticated(addr string) (d Decision, applies bool) {
	if l.AnonRPS <= 0 {
		return Decision{}, false
	}
	d = l.take("anon:"+addr, l.AnonRPS)
	if !d.Allowed {
		d.RefusedBy = "unauthenticated"
		l.Metrics.RateLimited(d.RefusedBy)
	}
	return d, true
}

// Headers calls set with the RateLimit headers (draft RFC) of d.
func (d Decision) Headers(set func(key, value string)) {
	set("RateLimit-Limit", strconv.Itoa(int(d.Burst)))
	set("RateLimit-Remaining", strconv.Itoa(int(math.Floor(d.Remaining))))
	set("RateLimit-Reset", strconv.Itoa(int(math.Ceil((d.Burst-d.Remaining)/d.Rate))))
	set("RateLimit-Policy", fmt.Sprintf("%g;w=1;burst=%d", d.Rate, int(d.Burst)))
}

// RetryAfterSeconds is a refusal's Retry-After, in whole seconds, at least 1.
func (d Decision) RetryAfterSeconds() int { return max(int(math.Ceil(d.RetryAfter.Seconds())), 1) }

// ForgetKey drops a key's bucket: its next request starts with a full one.
func (l *Limiter) ForgetKey(keyID string) { l.buckets.Delete("key:" + keyID) }

// Sweep drops buckets idle long enough to be full again, so keys that went quiet cost no
// memory.
func (l *Limiter) Sweep(idle time.Duration) {
	cutoff := l.Now().Add(-idle)
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
