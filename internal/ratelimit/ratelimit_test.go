package ratelimit

import (
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
)

// TestBuckets: a bucket holds BurstSeconds of its rate, refills at its rate, and a refusal
// says how long until the next token; with several processes each holds its share.
func TestBuckets(t *testing.T) {
	clock := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	l := New(0, 0, 2) // two processes: each enforces half
	l.Now = func() time.Time { return clock }
	var d Decision
	for range 10 { // 10/s over 2 processes: 5/s here, bursts of 10
		if d = l.take("key:k", 10); !d.Allowed {
			t.Fatalf("refused within the burst: %+v", d)
		}
	}
	if d = l.take("key:k", 10); d.Allowed || d.RetryAfter != 200*time.Millisecond || d.Rate != 5 || d.Burst != 10 {
		t.Fatalf("past the burst: %+v", d)
	}
	clock = clock.Add(400 * time.Millisecond) // two tokens back
	if a, b, c := l.take("key:k", 10), l.take("key:k", 10), l.take("key:k", 10); !a.Allowed || !b.Allowed || c.Allowed {
		t.Errorf("after 400 ms: %v %v %v", a.Allowed, b.Allowed, c.Allowed)
	}
	if d := l.take("key:other", 10); !d.Allowed {
		t.Error("another key's bucket is not its own")
	}
}

// TestRequest: the key's and the tenant's limits both apply, the tenant's settings override
// the defaults, the tighter decision is returned, and 0 turns a limit off.
func TestRequest(t *testing.T) {
	clock := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	one, zero := 1, 0
	key := &domain.APIKey{ID: "key_a", TenantID: "ten_a"}
	for _, tc := range []struct {
		name       string
		keyRPS     int
		tenantRPS  int
		tenant     *domain.Tenant
		requests   int // before the one looked at
		allowed    bool
		refusedBy  string
		applies    bool
		wantBurstX float64
	}{
		{name: "no limits", applies: false, allowed: false},
		{name: "key limit within burst", keyRPS: 2, requests: 3, applies: true, allowed: true, wantBurstX: 4},
		{name: "key limit spent", keyRPS: 2, requests: 4, applies: true, refusedBy: "key"},
		{name: "tenant tighter", keyRPS: 50, tenantRPS: 1, requests: 2, applies: true, refusedBy: "tenant"},
		{name: "tenant setting overrides the key default", keyRPS: 50, tenant: &domain.Tenant{RateLimitKeyRPS: &one}, requests: 2, applies: true, refusedBy: "key"},
		{name: "tenant setting turns its limit off", keyRPS: 0, tenantRPS: 1, tenant: &domain.Tenant{RateLimitTenantRPS: &zero}, requests: 10, applies: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := New(tc.keyRPS, tc.tenantRPS, 1)
			l.Now = func() time.Time { return clock }
			for range tc.requests {
				l.Request(key, tc.tenant)
			}
			d, applies := l.Request(key, tc.tenant)
			if applies != tc.applies || (applies && (d.Allowed != (tc.refusedBy == "") || d.RefusedBy != tc.refusedBy)) {
				t.Errorf("got %+v applies %v", d, applies)
			}
			if tc.wantBurstX > 0 && d.Burst != tc.wantBurstX {
				t.Errorf("burst %v, want %v", d.Burst, tc.wantBurstX)
			}
		})
	}
}

// TestHeadersAndSweep: the RateLimit headers of a decision, and buckets idle long enough
// are dropped.
func TestHeadersAndSweep(t *testing.T) {
	clock := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	l := New(2, 0, 1)
	l.Now = func() time.Time { return clock }
	d, _ := l.Request(&domain.APIKey{ID: "key_a", TenantID: "ten_a"}, nil)
	got := map[string]string{}
	d.Headers(func(k, v string) { got[k] = v })
	want := map[string]string{"RateLimit-Limit": "4", "RateLimit-Remaining": "3", "RateLimit-Reset": "1", "RateLimit-Policy": "2;w=1;burst=4"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	clock = clock.Add(2 * time.Minute)
	l.Sweep(time.Minute)
	n := 0
	l.buckets.Range(func(any, any) bool { n++; return true })
	if n != 0 {
		t.Errorf("%d buckets left after the sweep", n)
	}
	if (Decision{RetryAfter: 10 * time.Millisecond}).RetryAfterSeconds() != 1 {
		t.Error("Retry-After below a second")
	}
}
