package cache

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
)

// TestNegativeCache: an id found missing is remembered for negativeTTL, so repeating it
// costs one lookup per window; an eviction (a key created elsewhere) forgets it at once.
func TestNegativeCache(t *testing.T) {
	loads := 0
	c := New(func(ctx context.Context, id string) (string, error) {
		loads++
		if id == "known" {
			return "v", nil
		}
		return "", domain.Errorf(domain.ENOTFOUND, "no %s", id)
	})
	for range 100 {
		if _, err := c.Get(context.Background(), "key_unknown", nil); domain.ErrorCode(err) != domain.ENOTFOUND {
			t.Fatalf("got %v", err)
		}
	}
	if loads != 1 {
		t.Errorf("%d lookups for one unknown id", loads)
	}
	c.Evict("key_unknown")
	_, _ = c.Get(context.Background(), "key_unknown", nil)
	if loads != 2 {
		t.Errorf("eviction did not forget the missing id: %d lookups", loads)
	}
	// The remembered misses are bounded.
	for i := range maxNegative + 10 {
		_, _ = c.Get(context.Background(), domain.NewID("key")+string(rune('a'+i%26)), nil)
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
	stale := func(c *Cache[string], id string) {
		e := c.m[id]
		e.loaded = time.Now().Add(-TTL)
		c.m[id] = e
	}
	for _, tc := range []struct {
		name      string
		before    func(c *Cache[string]) // after "known" and "gone" were each looked up once
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
		{name: "stale record reloads unasked", id: "known", refuse: true, before: func(c *Cache[string]) { stale(c, "known") }, loads: 1, wantValue: "v"},
		{name: "after a reconnection, reloads unasked", id: "known", refuse: true, before: func(c *Cache[string]) { c.Clear() }, loads: 1, wantValue: "v"},
		{name: "evicted record is asked about", id: "known", refuse: true, before: func(c *Cache[string]) { c.Evict("known") }, asked: 1, wantCode: domain.ERATELIMIT},
		{name: "remembered missing", id: "gone", refuse: true, wantCode: domain.ENOTFOUND},
		{name: "missing, remembered no longer", id: "gone", refuse: true, before: func(c *Cache[string]) { c.negative["gone"] = time.Now().Add(-negativeTTL) }, asked: 1, wantCode: domain.ERATELIMIT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loads := 0
			c := New(func(ctx context.Context, id string) (string, error) {
				loads++
				if id == "known" || id == "fresh-elsewhere" {
					return "v", nil
				}
				return "", domain.Errorf(domain.ENOTFOUND, "no %s", id)
			})
			_, _ = c.Get(context.Background(), "known", nil)
			_, _ = c.Get(context.Background(), "gone", nil)
			if tc.before != nil {
				tc.before(c)
			}
			loads = 0
			asked := 0
			v, err := c.Get(context.Background(), tc.id, func() error {
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

// TestOneLoadPerID: requests that find the same id missing at once share one load.
func TestOneLoadPerID(t *testing.T) {
	var loads atomic.Int32
	release := make(chan struct{})
	c := New(func(ctx context.Context, id string) (string, error) {
		loads.Add(1)
		<-release
		return "v-" + id, nil
	})
	var wg sync.WaitGroup
	got := make([]string, 20)
	for i := range got {
		wg.Go(func() { got[i], _ = c.Get(context.Background(), "k", nil) })
	}
	for loads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the others join the load in flight
	close(release)
	wg.Wait()
	for _, v := range got {
		if v != "v-k" {
			t.Fatalf("got %q", got)
		}
	}
	if n := loads.Load(); n != 1 {
		t.Errorf("%d loads for 20 requests at once", n)
	}
}
