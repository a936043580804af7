package contract

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/threada/threada/internal/domain"
)

// Backoff is when a failed attempt is tried again: Initial after the first, then
// Coefficient times longer each time, never more than Max apart.
type Backoff struct {
	Initial     time.Duration
	Coefficient int
	Max         time.Duration
}

// Retry is the retry policy of every action attempt: 1 s, x2, at most 5 min apart. The
// workflow's timer, the next_attempt_at it records and runs from before the attempt loop
// (through Temporal's own retries) all follow it.
var Retry = Backoff{Initial: time.Second, Coefficient: 2, Max: 5 * time.Minute}

// MaxRetryAfter caps how long a receiver's Retry-After can push the next attempt.
const MaxRetryAfter = 5 * time.Minute

// AttemptGrace is added to an action's timeout_ms for an attempt activity's StartToClose:
// room to read the action before the call and to record the outcome after it.
const AttemptGrace = 5 * time.Second

// Delay is the wait after failed attempt n (from 1): the receiver's Retry-After when it
// gave one, else the backoff.
func (b Backoff) Delay(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter
	}
	d := b.Initial
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= time.Duration(b.Coefficient)
	}
	return min(d, b.Max)
}

// TemporalPolicy is the backoff as a Temporal retry policy, for runs started before the
// workflow made its own attempts.
func (b Backoff) TemporalPolicy(maxAttempts int) *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:    b.Initial,
		BackoffCoefficient: float64(b.Coefficient),
		MaximumInterval:    b.Max,
		MaximumAttempts:    int32(maxAttempts),
	}
}

// AttemptTimeout is an attempt activity's StartToClose timeout.
func AttemptTimeout(r domain.ActionRequest) time.Duration {
	return time.Duration(r.TimeoutMS)*time.Millisecond + AttemptGrace
}

// RetryAfter reads a receiver's Retry-After (seconds or an HTTP date), capped at
// MaxRetryAfter; 0 if absent, malformed or past.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return min(d, MaxRetryAfter)
}
