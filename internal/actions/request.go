package actions

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/webhook"
)

// Headers Threada adds to every attempt besides the Standard Webhooks ones.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderAttempt        = "X-Threada-Attempt"
	UserAgent            = "Threada-Actions/1.0"
)

// AttemptHeaders are the headers whose values depend on the attempt (its number, time and
// signature); a dry run lists them by name.
var AttemptHeaders = []string{HeaderIdempotencyKey, HeaderAttempt, webhook.HeaderID, webhook.HeaderTimestamp, webhook.HeaderSignature}

// NewRequest builds an action's request as every attempt sends it, before the attempt's
// own headers (see Sign): the method, URL and body, the payload's headers, then Threada's
// User-Agent and, with a body, Content-Type. The activity sends it and a dry run shows it,
// so what a tenant previews is what its receiver gets.
func NewRequest(ctx context.Context, r domain.ActionRequest) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, strings.NewReader(r.BodyJSON))
	if err != nil {
		return nil, err
	}
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", UserAgent)
	if r.BodyJSON != "" {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	return req, nil
}

// Sign adds attempt n's headers to req: the message ID as webhook-id and Idempotency-Key
// (the original's on a replay, so the receiver can deduplicate), the attempt number, and
// the Standard Webhooks timestamp and signature with each of the tenant's secrets.
func Sign(req *http.Request, r domain.ActionRequest, actionID string, attempt int, secrets []string, ts time.Time) error {
	msgID := r.MessageID(actionID)
	sig, err := webhook.Sign(secrets, msgID, ts, []byte(r.BodyJSON))
	if err != nil {
		return err
	}
	req.Header.Set(HeaderIdempotencyKey, msgID)
	req.Header.Set(HeaderAttempt, strconv.Itoa(attempt))
	req.Header.Set(webhook.HeaderID, msgID)
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(webhook.HeaderSignature, sig)
	return nil
}
