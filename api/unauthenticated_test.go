package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
)

// TestUnauthenticatedLimit: requests without a valid key are limited per client address;
// past the allowance they get 429 with Retry-After instead of 401, while a valid key from
// the same address is not held back.
func TestUnauthenticatedLimit(t *testing.T) {
	e := newTestEnv(t)
	clock := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	e.srv.limiter = newLimiter(0, 0, 1).withUnauthenticated(2) // 2/s, bursts of 4
	e.srv.limiter.now = func() time.Time { return clock }
	f := e.actionFixture("https://hooks.example.com")
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
		if _, err := c.get(context.Background(), "key_unknown"); domain.ErrorCode(err) != domain.ENOTFOUND {
			t.Fatalf("got %v", err)
		}
	}
	if loads != 1 {
		t.Errorf("%d lookups for one unknown id", loads)
	}
	c.evict("key_unknown")
	_, _ = c.get(context.Background(), "key_unknown")
	if loads != 2 {
		t.Errorf("eviction did not forget the missing id: %d lookups", loads)
	}
	// The remembered misses are bounded.
	for i := range maxNegative + 10 {
		_, _ = c.get(context.Background(), domain.NewID("key")+string(rune('a'+i%26)))
	}
	if n := len(c.negative); n > maxNegative {
		t.Errorf("%d misses remembered", n)
	}
}
