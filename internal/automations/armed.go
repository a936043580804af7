package automations

import (
	"context"
	"sync"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// armedRecount is how old a tenant's count of armed delay timers may be before this worker
// counts again. Between counts it adds the timers it armed itself, so with W workers a
// tenant can pass domain.MaxArmedTimersByTenant by at most what the other W-1 add in this
// time.
const armedRecount = 10 * time.Second

// armedCounts keeps each tenant's count of armed delay timers for the cap, so that an arm
// costs no count query: one bounded count (at most the cap's worth of index entries) per
// tenant every armedRecount.
type armedCounts struct {
	mu sync.Mutex
	m  map[string]armedCount
}

type armedCount struct {
	n    int
	read time.Time
}

// maxCounted bounds the tenants remembered; past it all are counted again.
const maxCounted = 100_000

// atCap reports whether the tenant has domain.MaxArmedTimersByTenant delay timers armed.
func (c *armedCounts) atCap(ctx context.Context, tx *store.Conn, tenantID string) (bool, error) {
	c.mu.Lock()
	e, ok := c.m[tenantID]
	c.mu.Unlock()
	if !ok || time.Since(e.read) >= armedRecount {
		n, err := tx.CountDelayTimers(ctx, tenantID, domain.MaxArmedTimersByTenant)
		if err != nil {
			return false, err
		}
		e = armedCount{n: n, read: time.Now()}
		c.mu.Lock()
		if c.m == nil || len(c.m) >= maxCounted {
			c.m = map[string]armedCount{}
		}
		c.m[tenantID] = e
		c.mu.Unlock()
	}
	return e.n >= domain.MaxArmedTimersByTenant, nil
}

// added notes a timer this worker armed for the tenant.
func (c *armedCounts) added(tenantID string) {
	c.mu.Lock()
	if e, ok := c.m[tenantID]; ok {
		e.n++
		c.m[tenantID] = e
	}
	c.mu.Unlock()
}
