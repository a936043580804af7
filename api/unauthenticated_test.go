package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/ratelimit"
)

// TestUnauthenticatedLimit: requests without a valid key are limited per client address;
// past the allowance they get 429 with Retry-After instead of 401, while a valid key this
// process has seen, from the same address, is not held back.
func TestUnauthenticatedLimit(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com") // before the limit: its key is now cached
	clock := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	e.srv.limiter = ratelimit.New(0, 0, 1).WithUnauthenticated(2) // 2/s, bursts of 4
	e.srv.limiter.Now = func() time.Time { return clock }
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

// TestMadeUpKeysCostNoQueriesPastTheAllowance: 200 requests from one address, each with a
// well-formed secret naming a key id nobody issued, cost exactly the address's burst in
// lookups (the limiter's clock stands still, so nothing refills); the rest are 429 with no
// query at all. Keys this process has seen are still served from that address; a key it
// has not seen pays for its lookup like a made-up one.
func TestMadeUpKeysCostNoQueriesPastTheAllowance(t *testing.T) {
	e, queries := newCountedEnv(t)
	clock := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	const rps = 5                                                   // RATE_LIMIT_UNAUTHENTICATED_RPS' default
	e.srv.limiter = ratelimit.New(0, 0, 1).WithUnauthenticated(rps) // bursts of 2*rps = 10
	e.srv.limiter.Now = func() time.Time { return clock }
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
