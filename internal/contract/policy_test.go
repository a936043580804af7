package contract

import (
	"net/http"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "0": 0, "-5": 0, "30": 30 * time.Second, "100000": MaxRetryAfter, "soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
	} {
		if got := RetryAfter(v, now); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
}

// TestRetryDelay: the workflow's timers and the legacy runs' Temporal policy follow one
// backoff, and a receiver's Retry-After replaces it.
func TestRetryDelay(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	for i, w := range want {
		if got := Retry.Delay(i+1, 0); got != w {
			t.Errorf("attempt %d: %v, want %v", i+1, got, w)
		}
	}
	if got := Retry.Delay(40, 0); got != 5*time.Minute {
		t.Errorf("attempt 40: %v, want the 5 min cap", got)
	}
	if got := Retry.Delay(3, 7*time.Second); got != 7*time.Second {
		t.Errorf("Retry-After ignored: %v", got)
	}
	p := Retry.TemporalPolicy(4)
	if p.InitialInterval != Retry.Initial || p.BackoffCoefficient != float64(Retry.Coefficient) || p.MaximumInterval != Retry.Max || p.MaximumAttempts != 4 {
		t.Errorf("Temporal policy %+v differs from %+v", p, Retry)
	}
	if got := AttemptTimeout(domain.ActionRequest{TimeoutMS: 1500}); got != 1500*time.Millisecond+AttemptGrace {
		t.Errorf("attempt timeout %v", got)
	}
}
