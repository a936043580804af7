package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
)

// TestUnauthenticatedLimit: requests without a valid key are limited per client address;
// past the allowance they get 429 with Retry-After instead of 401, while a valid key this
// process has seen, from the same address, is not held back.
func TestUnauthenticatedLimit(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com") // before the limit: its key is now cached
	clock := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	e.srv.limiter = newLimiter(0, 0, 1).withUnauthenticated(2) // 2/s, bursts of 4
	e.srv.limiter.now = func() time.Time { return clock }
	unknown := "thr_06h00000000000000000000000_abcdefghjkmnpqrstvwxyz0123456789abcdefghj"
	get := func(key string) *response {
		return e.do(req{method: "GET", path: "/api/v1/public/tickets", key: key})
	}
	for _, key := range []string{"", "not-a-key", unknown, f.key[:len(f.key)-4] + "zzzz"} {
		wantError(t, get(key), http.StatusUnauthorized, "authentication_error", "")
	}
	resp := get(unknown)
	wantError(t, resp, http.StatusTooManyRequests, "rate_limit_error", "")
	if resp.Header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if resp := get(f.key); resp.Status != http.StatusOK {
		t.Fatalf("a valid key from the same address: %d %s", resp.Status, resp.Body)
	}
	clock = clock.Add(time.Second) // two more tries
	wantError(t, get(unknown), http.StatusUnauthorized, "authentication_error", "")
	wantError(t, get(unknown), http.StatusUnauthorized, "authentication_error", "")
	wantError(t, get(unknown), http.StatusTooManyRequests, "rate_limit_error", "")
}

// TestNegativeCache: an id found missing is remembered for negativeTTL, so repeating it
// costs one lookup per window; an eviction (a key created elsewhere) forgets it at once.
func TestNegativeCache(t *testing.T) {
	loads := 0
	c := newCache(func(ctx context.Context, id string) (string, error) {
		loads++
		if id == "known" {
			return "v", nil
		}
		return "", domain.Errorf(domain.ENOTFOUND, "no %s", id)
	})
	for range 100 {
		if _, err := c.get(context.Background(), "key_unknown", nil); domain.ErrorCode(err) != domain.ENOTFOUND {
			t.Fatalf("got %v", err)
		}
	}
	if loads != 1 {
		t.Errorf("%d lookups for one unknown id", loads)
	}
	c.evict("key_unknown")
	_, _ = c.get(context.Background(), "key_unknown", nil)
	if loads != 2 {
		t.Errorf("eviction did not forget the missing id: %d lookups", loads)
	}
	// The remembered misses are bounded.
	for i := range maxNegative + 10 {
		_, _ = c.get(context.Background(), domain.NewID("key")+string(rune('a'+i%26)), nil)
	}
	if n := len(c.negative); n > maxNegative {
		t.Errorf("%d misses remembered", n)
	}
}

// TestCacheAdmission: which lookups the cache asks its caller about first (admit), and
// which reach the database. Only an id the cache holds nothing about is asked about; a
// refusal costs no lookup.
func TestCacheAdmission(t *testing.T) {
	refused := domain.Errorf(domain.ERATELIMIT, "no")
	stale := func(c *cache[string], id string) {
		e := c.m[id]
		e.loaded = time.Now().Add(-cacheTTL)
		c.m[id] = e
	}
	for _, tc := range []struct {
		name      string
		before    func(c *cache[string]) // after "known" and "gone" were each looked up once
		id        string
		refuse    bool
		asked     int
		loads     int
		wantCode  string
		wantValue string
	}{
		{name: "never seen, admitted", id: "new", asked: 1, loads: 1, wantCode: domain.ENOTFOUND},
		{name: "never seen, refused", id: "new", refuse: true, asked: 1, wantCode: domain.ERATELIMIT},
		{name: "a real id never seen, refused", id: "fresh-elsewhere", refuse: true, asked: 1, wantCode: domain.ERATELIMIT},
		{name: "fresh record", id: "known", refuse: true, wantValue: "v"},
		{name: "stale record reloads unasked", id: "known", refuse: true, before: func(c *cache[string]) { stale(c, "known") }, loads: 1, wantValue: "v"},
		{name: "after a reconnection, reloads unasked", id: "known", refuse: true, before: func(c *cache[string]) { c.clear() }, loads: 1, wantValue: "v"},
		{name: "evicted record is asked about", id: "known", refuse: true, before: func(c *cache[string]) { c.evict("known") }, asked: 1, wantCode: domain.ERATELIMIT},
		{name: "remembered missing", id: "gone", refuse: true, wantCode: domain.ENOTFOUND},
		{name: "missing, remembered no longer", id: "gone", refuse: true, before: func(c *cache[string]) { c.negative["gone"] = time.Now().Add(-negativeTTL) }, asked: 1, wantCode: domain.ERATELIMIT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loads := 0
			c := newCache(func(ctx context.Context, id string) (string, error) {
				loads++
				if id == "known" || id == "fresh-elsewhere" {
					return "v", nil
				}
				return "", domain.Errorf(domain.ENOTFOUND, "no %s", id)
			})
			_, _ = c.get(context.Background(), "known", nil)
			_, _ = c.get(context.Background(), "gone", nil)
			if tc.before != nil {
				tc.before(c)
			}
			loads = 0
			asked := 0
			v, err := c.get(context.Background(), tc.id, func() error {
				asked++
				if tc.refuse {
					return refused
				}
				return nil
			})
			if asked != tc.asked || loads != tc.loads {
				t.Errorf("asked %d times, %d lookups; want %d, %d", asked, loads, tc.asked, tc.loads)
			}
			if domain.ErrorCode(err) != tc.wantCode || v != tc.wantValue {
				t.Errorf("got %q, %v; want %q, code %q", v, err, tc.wantValue, tc.wantCode)
			}
		})
	}
}

// TestMadeUpKeysCostNoQueriesPastTheAllowance: 200 requests from one address, each with a
// well-formed secret naming a key id nobody issued, cost exactly the address's burst in
// lookups (the limiter's clock stands still, so nothing refills); the rest are 429 with no
// query at all. Keys this process has seen are still served from that address; a key it
// has not seen pays for its lookup like a made-up one.
func TestMadeUpKeysCostNoQueriesPastTheAllowance(t *testing.T) {
	e, queries := newCountedEnv(t)
	clock := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	const rps = 5                                                // RATE_LIMIT_UNAUTHENTICATED_RPS' default
	e.srv.limiter = newLimiter(0, 0, 1).withUnauthenticated(rps) // bursts of 2*rps = 10
	e.srv.limiter.now = func() time.Time { return clock }
	const burst = 2 * rps
	acme, globex := e.newTenant("Acme"), e.newTenant("Globex")
	seen, unseen := e.newKey(acme, domain.ScopeSupportRead), e.newKey(globex, domain.ScopeSupportRead)
	e.noUsageWrites(seen, unseen)
	const flooder, neighbour = "203.0.113.7", "198.51.100.9"
	whoami := func(ip, key string) *response {
		return e.doFrom(ip, req{method: "GET", path: "/api/v1/public/whoami", key: key})
	}
	if r := whoami(neighbour, seen); r.Status != http.StatusOK {
		t.Fatalf("warming the cache: %d %s", r.Status, r.Body)
	}

	statuses := map[int]int{}
	n := queries.during(func() {
		for range 200 {
			r := whoami(flooder, madeUpKey())
			statuses[r.Status]++
			if r.Status == http.StatusTooManyRequests {
				wantError(t, r, http.StatusTooManyRequests, "rate_limit_error", "")
				if r.Header.Get("Retry-After") != "1" {
					t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
				}
			}
		}
	})
	if n != burst || statuses[http.StatusUnauthorized] != burst || statuses[http.StatusTooManyRequests] != 200-burst {
		t.Fatalf("200 made-up keys: %d queries, statuses %v; want %d lookups, %d x 401, %d x 429", n, statuses, burst, burst, 200-burst)
	}

	madeUp := madeUpKey()
	for _, tc := range []struct {
		name, ip, key string
		before        func()
		status        int
		queries       int64
	}{
		{name: "a key seen by this process, from the throttled address", ip: flooder, key: seen, status: http.StatusOK},
		{name: "the same, its cache entry stale: it reloads uncharged", ip: flooder, key: seen, before: e.srv.caches.clear, status: http.StatusOK, queries: 2}, // key and tenant
		{name: "another tenant's key not seen yet, from the throttled address", ip: flooder, key: unseen, status: http.StatusTooManyRequests},
		{name: "that key from another address", ip: neighbour, key: unseen, status: http.StatusOK, queries: 2},
		{name: "that key, now seen, from the throttled address", ip: flooder, key: unseen, status: http.StatusOK},
		{name: "a made-up key from another address", ip: neighbour, key: madeUp, status: http.StatusUnauthorized, queries: 1},
		{name: "that key, remembered missing, from the throttled address", ip: flooder, key: madeUp, status: http.StatusTooManyRequests},
		{name: "that key again from the other address", ip: neighbour, key: madeUp, status: http.StatusUnauthorized},
	} {
		if tc.before != nil {
			tc.before()
		}
		var r *response
		if n := queries.during(func() { r = whoami(tc.ip, tc.key) }); r.Status != tc.status || n != tc.queries {
			t.Errorf("%s: %d with %d queries, want %d with %d\n%s", tc.name, r.Status, n, tc.status, tc.queries, r.Body)
		}
	}
}
