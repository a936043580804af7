// Package cache is a read-through cache of records by id, with a bound on how long a
// record lives (TTL), remembered misses, one load per id at a time, and eviction. The API
// keeps its keys and tenants in it.
package cache

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/threada/threada/internal/domain"
)

// TTL bounds how long an entry lives even if an invalidation is lost.
const TTL = 30 * time.Second

// A record that does not exist is remembered for negativeTTL, so a client repeating an
// unknown key id costs one database query per window, not one per request. At most
// maxNegative are kept; past that all are forgotten and the count starts again.
const (
	negativeTTL = 10 * time.Second
	maxNegative = 10_000
)

// Cache keeps records the hot path reads on every request (keys, tenant settings), so that
// authenticating and rate limiting a request costs no database round trip. Whoever
// changes a record evicts it, in every process (the API does it through PostgreSQL
// notifications); Clear is for when such an eviction may have been missed.
type Cache[V any] struct {
	load     func(ctx context.Context, id string) (V, error)
	mu       sync.RWMutex
	m        map[string]entry[V]
	negative map[string]time.Time // id -> when it was found missing
	// loading makes requests that need the same id at once share one lookup, so a stale
	// entry costs one query however many requests find it stale together.
	loading singleflight.Group
}

type entry[V any] struct {
	v      V
	loaded time.Time
}

// New returns a Cache that loads a record it does not hold with load; a load that fails
// with ENOTFOUND is remembered as a miss.
func New[V any](load func(ctx context.Context, id string) (V, error)) *Cache[V] {
	return &Cache[V]{load: load, m: map[string]entry[V]{}, negative: map[string]time.Time{}}
}

// Get returns id's record. A fresh entry costs nothing, and an id remembered as missing
// is ENOTFOUND without a query. A stale entry of a record that existed reloads. An id
// the cache holds nothing about (never seen, or evicted) is loaded only if admit, when
// given, allows it; its error is returned with no query made, so that ids anyone can make
// up are looked up only within a budget the caller keeps.
func (c *Cache[V]) Get(ctx context.Context, id string, admit func() error) (V, error) {
	c.mu.RLock()
	e, known := c.m[id]
	missing, gone := c.negative[id]
	c.mu.RUnlock()
	if known && time.Since(e.loaded) < TTL {
		return e.v, nil
	}
	if gone && time.Since(missing) < negativeTTL {
		var zero V
		return zero, ErrMissing
	}
	if !known && admit != nil {
		if err := admit(); err != nil {
			var zero V
			return zero, err
		}
	}
	v, err, _ := c.loading.Do(id, func() (any, error) {
		v, err := c.load(ctx, id)
		c.remember(id, v, err)
		return v, err
	})
	out, _ := v.(V) // a typed nil when the lookup failed
	return out, err
}

// remember keeps what a load found: the record, or that there is none (which also
// forgets a stale record, so that it is not reloaded as one that exists).
func (c *Cache[V]) remember(id string, v V, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		c.m[id] = entry[V]{v: v, loaded: time.Now()}
		delete(c.negative, id)
	case domain.ErrorCode(err) == domain.ENOTFOUND:
		delete(c.m, id)
		if len(c.negative) >= maxNegative {
			c.negative = map[string]time.Time{}
		}
		c.negative[id] = time.Now()
	}
}

// ErrMissing is what Get answers for an id remembered as missing.
var ErrMissing = domain.Errorf(domain.ENOTFOUND, "not found")

// Evict forgets id, record and miss alike: its next lookup is admitted like a new id's,
// and does not join a lookup that began before the change.
func (c *Cache[V]) Evict(id string) {
	c.mu.Lock()
	delete(c.m, id)
	delete(c.negative, id)
	c.mu.Unlock()
	c.loading.Forget(id)
}

// Clear is for when invalidations may have been missed: no entry is used again before it
// reloads, and no miss is trusted. Records are kept as stale rather than dropped, so that
// after a reconnection a known key reloads as one, not as an id anyone could make up.
func (c *Cache[V]) Clear() {
	c.mu.Lock()
	for id, e := range c.m {
		e.loaded = time.Time{}
		c.m[id] = e
	}
	c.negative = map[string]time.Time{}
	c.mu.Unlock()
}
