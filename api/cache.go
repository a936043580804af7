package main

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// cacheTTL bounds how long an entry lives even if an invalidation is lost.
const cacheTTL = 30 * time.Second

// A record that does not exist is remembered for negativeTTL, so a client repeating an
// unknown key id costs one database query per window, not one per request. At most
// maxNegative are kept; past that all are forgotten and the count starts again.
const (
	negativeTTL = 10 * time.Second
	maxNegative = 10_000
)

// cache keeps records the hot path reads on every request (keys, tenant settings), so
// that authenticating and rate limiting a request costs no database round trip. Changes
// evict entries in every API process through PostgreSQL notifications (see listen).
type cache[V any] struct {
	load     func(ctx context.Context, id string) (V, error)
	mu       sync.RWMutex
	m        map[string]cacheEntry[V]
	negative map[string]time.Time // id -> when it was found missing
	// loading makes requests that need the same id at once share one lookup, so a stale
	// entry costs one query however many requests find it stale together.
	loading singleflight.Group
}

type cacheEntry[V any] struct {
	v      V
	loaded time.Time
}

func newCache[V any](load func(ctx context.Context, id string) (V, error)) *cache[V] {
	return &cache[V]{load: load, m: map[string]cacheEntry[V]{}, negative: map[string]time.Time{}}
}

// get returns id's record. A fresh entry costs nothing, and an id remembered as missing
// is ENOTFOUND without a query. A stale entry of a record that existed reloads. An id
// the cache holds nothing about (never seen, or evicted) is loaded only if admit, when
// given, allows it; its error is returned with no query made, so that ids anyone can make
// up are looked up only within a budget the caller keeps.
func (c *cache[V]) get(ctx context.Context, id string, admit func() error) (V, error) {
	c.mu.RLock()
	e, known := c.m[id]
	missing, gone := c.negative[id]
	c.mu.RUnlock()
	if known && time.Since(e.loaded) < cacheTTL {
		return e.v, nil
	}
	if gone && time.Since(missing) < negativeTTL {
		var zero V
		return zero, errNotCached
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
func (c *cache[V]) remember(id string, v V, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		c.m[id] = cacheEntry[V]{v: v, loaded: time.Now()}
		delete(c.negative, id)
	case domain.ErrorCode(err) == domain.ENOTFOUND:
		delete(c.m, id)
		if len(c.negative) >= maxNegative {
			c.negative = map[string]time.Time{}
		}
		c.negative[id] = time.Now()
	}
}

// errNotCached is what get answers for an id remembered as missing.
var errNotCached = domain.Errorf(domain.ENOTFOUND, "not found")

// evict forgets id, record and miss alike: its next lookup is admitted like a new id's,
// and does not join a lookup that began before the change.
func (c *cache[V]) evict(id string) {
	c.mu.Lock()
	delete(c.m, id)
	delete(c.negative, id)
	c.mu.Unlock()
	c.loading.Forget(id)
}

// clear is for when invalidations may have been missed: no entry is used again before it
// reloads, and no miss is trusted. Records are kept as stale rather than dropped, so that
// after a reconnection a known key reloads as one, not as an id anyone could make up.
func (c *cache[V]) clear() {
	c.mu.Lock()
	for id, e := range c.m {
		e.loaded = time.Time{}
		c.m[id] = e
	}
	c.negative = map[string]time.Time{}
	c.mu.Unlock()
}

// caches are the server's caches of keys and tenants.
type caches struct {
	keys    *cache[*domain.AuthKey]
	tenants *cache[*domain.Tenant]
}

func newCaches(st *store.Store) *caches {
	return &caches{
		keys:    newCache(st.KeyForAuth),
		tenants: newCache(st.GetTenant),
	}
}

// evict applies an invalidation: "key:<id>" or "tenant:<id>".
func (c *caches) evict(what string) {
	switch kind, id, _ := strings.Cut(what, ":"); kind {
	case "key":
		c.keys.evict(id)
	case "tenant":
		c.tenants.evict(id)
	}
}

func (c *caches) clear() {
	c.keys.clear()
	c.tenants.clear()
}

// listen applies the invalidations other processes (and the CLI) send until ctx ends.
// Whenever one may have been missed (the connection dropped, or is back) everything
// cached reloads before its next use: a missed invalidation must not keep a revoked key
// working longer than a reconnection.
func (c *caches) listen(ctx context.Context, st *store.Store, log *slog.Logger) {
	st.Listen(ctx, store.CacheChannel, log.With("for", "cache invalidation"), c.evict, c.clear)
}
