// Package activities holds the Temporal activities of Threada: one struct whose fields are
// its dependencies, registered once as a pointer. One file per concern.
package activities

import (
	"context"
	"net/http"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/secretbox"
	"github.com/threada/threada/internal/store"
)

// ErrTypeRecorded marks an activity error whose outcome is already recorded in
// PostgreSQL, so the workflow does not record it again.
const ErrTypeRecorded = "ActionOutcomeRecorded"

// Activities are the action activities and what they need.
type Activities struct {
	Store   *store.Store
	HTTP    *http.Client // guarded: see internal/httpguard
	Secrets *secretbox.Box
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// OutcomeInput records a final outcome the call activity could not record itself.
type OutcomeInput struct {
	ActionID  string
	Status    string
	LastError string
}

// RecordActionOutcome stores an action's final status, unless one is already recorded.
func (a *Activities) RecordActionOutcome(ctx context.Context, in OutcomeInput) error {
	if !domain.ActionTerminal(in.Status) {
		return temporal.NewNonRetryableApplicationError("not a final status: "+in.Status, "BadOutcome", nil)
	}
	_, err := a.Store.RecordAttempt(ctx, in.ActionID, store.AttemptResult{Status: in.Status, LastError: in.LastError})
	return err
}
