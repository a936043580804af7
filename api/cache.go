package main

import (
	"context"
	"log/slog"
	"strings"

	"github.com/threada/threada/internal/cache"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// caches are the server's caches of keys and tenants.
type caches struct {
	keys    *cache.Cache[*domain.AuthKey]
	tenants *cache.Cache[*domain.Tenant]
}

func newCaches(st *store.Store) *caches {
	return &caches{
		keys:    cache.New(st.KeyForAuth),
		tenants: cache.New(st.GetTenant),
	}
}

// evict applies an invalidation: "key:<id>" or "tenant:<id>".
func (c *caches) evict(what string) {
	switch kind, id, _ := strings.Cut(what, ":"); kind {
	case "key":
		c.keys.Evict(id)
	case "tenant":
		c.tenants.Evict(id)
	}
}

func (c *caches) clear() {
	c.keys.Clear()
	c.tenants.Clear()
}

// listen applies the invalidations other processes (and the CLI) send until ctx ends.
// Whenever one may have been missed (the connection dropped, or is back) everything
// cached reloads before its next use: a missed invalidation must not keep a revoked key
// working longer than a reconnection.
func (c *caches) listen(ctx context.Context, st *store.Store, log *slog.Logger) {
	st.Listen(ctx, store.CacheChannel, log.With("for", "cache invalidation"), c.evict, c.clear)
}
