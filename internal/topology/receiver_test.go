package topology

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/threada/threada/internal/webhook"
)

// receiverDelay is how long the receiver takes to answer, so that a killed worker has
// attempts in flight.
const receiverDelay = 300 * time.Millisecond

// receiver is the tenant's endpoint: it records every call by Idempotency-Key with the
// attempt it says it is, and checks its signature.
type receiver struct {
	*httptest.Server
	secret string

	mu        sync.Mutex
	calls     map[string][]int // Idempotency-Key -> X-Threada-Attempt of each call
	badSigned int
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{calls: map[string][]int{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		attempt, _ := strconv.Atoi(r.Header.Get("X-Threada-Attempt"))
		time.Sleep(receiverDelay)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if err := webhook.Verify(rc.secret, r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"),
			r.Header.Get("webhook-signature"), body, time.Now(), 5*time.Minute); err != nil {
			rc.badSigned++
		}
		key := r.Header.Get("Idempotency-Key")
		rc.calls[key] = append(rc.calls[key], attempt)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"received":true}`)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) setSecret(s string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secret = s
}

// delivered reports whether a call with key arrived.
func (rc *receiver) delivered(key string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.calls[key]) > 0
}

// snapshot copies what arrived.
func (rc *receiver) snapshot() (calls map[string][]int, badSigned int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	calls = make(map[string][]int, len(rc.calls))
	for k, v := range rc.calls {
		calls[k] = append([]int(nil), v...)
	}
	return calls, rc.badSigned
}
