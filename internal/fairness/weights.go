package fairness

import (
	"context"
	"sync"
	"time"

	"github.com/threada/threada/internal/domain"
)

// Weights keeps tenants' delivery weights for the workflows a process starts, so a start
// costs no query for it: each tenant's weight is read at most once per weightTTL per
// process. An operator's change thus reaches new workflows within weightTTL; running ones
// keep the weight they started with.
type Weights struct {
	load func(ctx context.Context, tenantID string) (float64, error)
	now  func() time.Time
	mu   sync.Mutex
	m    map[string]weightEntry
}

type weightEntry struct {
	w      float64
	loaded time.Time
}

// weightTTL is how long a weight is used before it is read again; maxWeights bounds the
// memory (past it, all are forgotten and read again as needed).
const (
	weightTTL  = 30 * time.Second
	maxWeights = 100_000
)

// NewWeights returns a cache over load (a tenant's weight from the store).
func NewWeights(load func(ctx context.Context, tenantID string) (float64, error)) *Weights {
	return &Weights{load: load, now: time.Now, m: map[string]weightEntry{}}
}

// Get returns the tenant's weight. When it cannot be read, the default weight is used (and
// not kept): a start never fails or waits for want of a weight.
func (w *Weights) Get(ctx context.Context, tenantID string) float64 {
	if w == nil {
		return domain.DefaultDeliveryWeight
	}
	w.mu.Lock()
	e, ok := w.m[tenantID]
	w.mu.Unlock()
	if ok && w.now().Sub(e.loaded) < weightTTL {
		return e.w
	}
	v, err := w.load(ctx, tenantID)
	if err != nil || v <= 0 {
		return domain.DefaultDeliveryWeight
	}
	w.mu.Lock()
	if len(w.m) >= maxWeights {
		w.m = map[string]weightEntry{}
	}
	w.m[tenantID] = weightEntry{w: v, loaded: w.now()}
	w.mu.Unlock()
	return v
}
