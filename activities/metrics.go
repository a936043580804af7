package activities

import (
	"context"
	"time"

	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/domain"
)

// timedCall makes the attempt's call and records how long it took, by destination. A call
// the egress guard refused never left, so it is not timed.
func (a *Activities) timedCall(ctx context.Context, in contract.AttemptInput, secrets []string) contract.AttemptOutcome {
	start := time.Now()
	o := a.call(ctx, in.ActionID, in.Request, in.Attempt, secrets)
	if o.ErrType != contract.ErrTypeRefused {
		a.Metrics.AttemptCall(domain.Destination(in.Request.URL), time.Since(start))
	}
	return o
}
