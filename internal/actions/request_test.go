package actions

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/webhook"
)

// TestRequestAsSent: the request every attempt sends (and a dry run shows) keeps the
// payload's headers but not a User-Agent of its own, adds Content-Type only with a body,
// and Sign adds the attempt's headers with a signature the receiver can verify.
func TestRequestAsSent(t *testing.T) {
	secret := webhook.NewSecret()
	ts := time.Unix(1_800_000_000, 0)
	r := domain.ActionRequest{Method: "POST", URL: "https://hooks.example.com/in", BodyJSON: `{"a":1}`,
		Headers: map[string]string{"x-team": "blue", "User-Agent": "mine"}, TimeoutMS: 1000, MaxAttempts: 3}
	req, err := NewRequest(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("User-Agent"); got != UserAgent {
		t.Errorf("User-Agent %q", got)
	}
	if req.Header.Get("X-Team") != "blue" || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", req.Header)
	}
	for _, h := range AttemptHeaders {
		if req.Header.Get(h) != "" {
			t.Errorf("%s set before Sign", h)
		}
	}
	if err := Sign(req, r, "act_1", 2, []string{secret}, ts); err != nil {
		t.Fatal(err)
	}
	if req.Header.Get(HeaderIdempotencyKey) != "act_1" || req.Header.Get(HeaderAttempt) != "2" || req.Header.Get(webhook.HeaderID) != "act_1" {
		t.Errorf("attempt headers %v", req.Header)
	}
	body, _ := io.ReadAll(req.Body)
	if err := webhook.Verify(secret, req.Header.Get(webhook.HeaderID), req.Header.Get(webhook.HeaderTimestamp), req.Header.Get(webhook.HeaderSignature), body, ts, time.Minute); err != nil {
		t.Errorf("signature: %v", err)
	}

	// A replay is sent under the original's message ID.
	r.DeliveryID = "act_original"
	if err := Sign(req, r, "act_2", 1, []string{secret}, ts); err != nil {
		t.Fatal(err)
	}
	if req.Header.Get(webhook.HeaderID) != "act_original" || req.Header.Get(HeaderIdempotencyKey) != "act_original" {
		t.Errorf("replay headers %v", req.Header)
	}

	get, err := NewRequest(context.Background(), domain.ActionRequest{Method: http.MethodGet, URL: "https://hooks.example.com/in"})
	if err != nil {
		t.Fatal(err)
	}
	if get.Header.Get("Content-Type") != "" || get.ContentLength != 0 || get.Body != http.NoBody {
		t.Errorf("a request without a body: %v %d", get.Header, get.ContentLength)
	}
}
