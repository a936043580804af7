// Package activities holds the Temporal activities of Threada: one struct whose fields are
// its dependencies, registered once as a pointer. One file per concern.
package activities

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/threada/threada/internal/config"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/secretbox"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/internal/telemetry"
)

// secretTTL is how long a worker keeps a tenant's opened signing secrets: it saves a query
// and a decryption per attempt, and a rotated secret is picked up within it (the old one
// keeps signing, next to the new one, for the rotation's overlap window).
const secretTTL = time.Minute

// Activities are the action activities and what they need.
type Activities struct {
	Store   *store.Store
	HTTP    *http.Client // guarded: see internal/httpguard
	Secrets *secretbox.Box
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// StartAction starts the workflow of an action an activity stored (a bulk replay's);
	// nil leaves them to the worker's relay.
	StartAction func(ctx context.Context, a *domain.Action) error
	// Wake wakes the workflow of an action whose attempt waits in its destination's line
	// (actions.Runner.Wake); it reports whether the run was there to wake. Nil leaves
	// waiting attempts to ask again after domain.DestinationLineWait.
	Wake func(ctx context.Context, actionID string) (bool, error)
	// HostConcurrency bounds the attempts in flight to one destination of a tenant, across
	// all workers (ACTIONS_HOST_CONCURRENCY); 0 means config.DefaultHostConcurrency.
	HostConcurrency int
	// Metrics count attempts by outcome and time their calls by destination; nil counts
	// nothing.
	Metrics *telemetry.Metrics

	secrets sync.Map // tenant id -> cachedSecret
}

type cachedSecrets struct {
	secrets []string
	expires time.Time
}

// signingSecrets returns the tenant's webhook signing secrets, opened: the current one,
// and during a rotation's overlap window the previous one, so calls carry both signatures.
func (a *Activities) signingSecrets(ctx context.Context, tenantID string) ([]string, error) {
	if c, ok := a.secrets.Load(tenantID); ok && time.Now().Before(c.(cachedSecrets).expires) {
		return c.(cachedSecrets).secrets, nil
	}
	sealed, err := a.Store.SigningSecrets(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(sealed))
	for i, s := range sealed {
		if out[i], err = a.Secrets.Open(s, tenantID); err != nil {
			return nil, err
		}
	}
	a.secrets.Store(tenantID, cachedSecrets{secrets: out, expires: time.Now().Add(secretTTL)})
	return out, nil
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Activities) hostConcurrency() int {
	if a.HostConcurrency > 0 {
		return a.HostConcurrency
	}
	return config.DefaultHostConcurrency
}
