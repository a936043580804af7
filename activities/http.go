package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/httpguard"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/internal/webhook"
)

// Headers Threada adds to every attempt besides the Standard Webhooks ones.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderAttempt        = "X-Threada-Attempt"
	userAgent            = "Threada-Actions/1.0"
)

// CallActivityName is the activity type of an attempt as Temporal records it: the name
// of the CustomHTTPCall method.
const CallActivityName = "CustomHTTPCall"

// maxRetryAfter caps how long a receiver's Retry-After can push the next attempt.
const maxRetryAfter = 5 * time.Minute

// Error types of retryable attempt failures, as shown in the Temporal UI.
const (
	ErrTypeHTTPStatus = "HTTPStatus"
	ErrTypeNetwork    = "NetworkError"
	ErrTypeTimeout    = "AttemptTimeout"
)

const (
	maxResponseHeaders    = 50
	maxResponseHeaderSize = 1024
)

// CallInput is one action call.
type CallInput struct {
	ActionID string
	TenantID string
	Request  domain.ActionRequest
}

// CallResult is the workflow's result for a succeeded action; the full response is in
// PostgreSQL, not in the workflow history.
type CallResult struct {
	StatusCode int
	DurationMS int64
}

// outcome is how one attempt ended.
type outcome struct {
	response   *domain.ActionResponse
	message    string // "" on success
	errType    string
	retryable  bool
	timedOut   bool
	retryAfter time.Duration // from the receiver's Retry-After, 0 if none
}

// CustomHTTPCall makes one attempt of an action and records its outcome: running, then
// succeeded, retrying (with the next attempt's time) or, on a permanent error or the last
// attempt, failed or timed_out. It returns a retryable error for Temporal to retry.
func (a *Activities) CustomHTTPCall(ctx context.Context, in CallInput) (*CallResult, error) {
	attempt := int(activity.GetInfo(ctx).Attempt)
	action, live, err := a.Store.StartAttempt(ctx, in.ActionID)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return nil, temporal.NewNonRetryableApplicationError("action "+in.ActionID+" does not exist", "ActionMissing", nil)
	}
	if err != nil {
		return nil, err
	}
	if !live {
		return nil, temporal.NewNonRetryableApplicationError("the action is already "+action.Status, ErrTypeRecorded, nil)
	}
	secrets, err := a.signingSecrets(ctx, in.TenantID)
	if err != nil {
		return nil, err
	}

	o := a.call(ctx, in, attempt, secrets)
	if o.message == "" {
		if _, err := a.Store.RecordAttempt(ctx, in.ActionID, store.AttemptResult{Attempt: attempt, Status: domain.ActionSucceeded, Response: o.response}); err != nil {
			return nil, err
		}
		return &CallResult{StatusCode: o.response.StatusCode, DurationMS: o.response.DurationMS}, nil
	}

	final := !o.retryable || attempt >= in.Request.MaxAttempts
	rec := store.AttemptResult{Attempt: attempt, Status: domain.ActionRetrying, LastError: o.message, Response: o.response}
	switch {
	case final && o.timedOut:
		rec.Status = domain.ActionTimedOut
	case final:
		rec.Status = domain.ActionFailed
	default:
		next := a.now().Add(nextDelay(attempt, o.retryAfter)).UTC()
		rec.NextAttemptAt = &next
	}
	recorded, err := a.Store.RecordAttempt(ctx, in.ActionID, rec)
	if err != nil {
		return nil, err
	}
	if final || !recorded {
		return nil, temporal.NewNonRetryableApplicationError(o.message, ErrTypeRecorded, nil)
	}
	return nil, temporal.NewApplicationErrorWithOptions(o.message, o.errType, temporal.ApplicationErrorOptions{NextRetryDelay: o.retryAfter})
}

// nextDelay mirrors the workflow's retry policy (1 s, x2, at most 5 min), or the
// receiver's Retry-After, to tell clients when the next attempt is due.
func nextDelay(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter
	}
	d := time.Second
	for i := 1; i < attempt && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// call sends the request once, signed, within the action's per-attempt timeout.
func (a *Activities) call(ctx context.Context, in CallInput, attempt int, secrets []string) outcome {
	r := in.Request
	target := redactURL(r.URL)
	fail := func(retryable bool, errType, format string, args ...any) outcome {
		return outcome{message: fmt.Sprintf("%s %s: ", r.Method, target) + fmt.Sprintf(format, args...), retryable: retryable, errType: errType}
	}
	callCtx, cancel := context.WithTimeout(ctx, time.Duration(r.TimeoutMS)*time.Millisecond)
	defer cancel()

	body := []byte(r.BodyJSON)
	req, err := http.NewRequestWithContext(callCtx, r.Method, r.URL, strings.NewReader(r.BodyJSON))
	if err != nil {
		return fail(false, "BadRequest", "cannot build the request: %v", err)
	}
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	ts := a.now()
	sig, err := webhook.Sign(secrets, in.ActionID, ts, body)
	if err != nil {
		return fail(false, "BadSecret", "%v", err)
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HeaderIdempotencyKey, in.ActionID)
	req.Header.Set(HeaderAttempt, strconv.Itoa(attempt))
	req.Header.Set(webhook.HeaderID, in.ActionID)
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(webhook.HeaderSignature, sig)

	start := time.Now()
	resp, err := a.HTTP.Do(req)
	if err != nil {
		return classifyTransportError(err, callCtx, ctx, fail, r.TimeoutMS)
	}
	defer resp.Body.Close()
	// Read up to the cap and no further; one byte more tells that there was more.
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, domain.MaxResponseBodyBytes+1))
	got := &domain.ActionResponse{
		StatusCode: resp.StatusCode,
		Headers:    flattenHeaders(resp.Header),
		DurationMS: time.Since(start).Milliseconds(),
	}
	if len(data) > domain.MaxResponseBodyBytes {
		data, got.BodyTruncated = data[:domain.MaxResponseBodyBytes], true
	}
	got.Body = string(data)
	if readErr != nil {
		o := classifyTransportError(readErr, callCtx, ctx, fail, r.TimeoutMS)
		o.response = got
		return o
	}

	status := fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	var o outcome
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return outcome{response: got}
	case code >= 300 && code < 400:
		o = fail(false, "HTTPRedirect", "%s (redirects are not followed)", status)
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		o = fail(true, ErrTypeHTTPStatus, "%s", status)
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			o.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), a.now())
		}
	default:
		o = fail(false, "HTTPRejected", "%s", status)
	}
	o.response = got
	return o
}

func classifyTransportError(err error, callCtx, ctx context.Context, fail func(bool, string, string, ...any) outcome, timeoutMS int) outcome {
	switch {
	case httpguard.IsRefused(err):
		var re *httpguard.RefusedError
		errors.As(err, &re)
		return fail(false, "EgressRefused", "%v", re)
	case ctx.Err() != nil:
		return fail(true, ErrTypeNetwork, "the attempt was interrupted")
	case errors.Is(callCtx.Err(), context.DeadlineExceeded):
		o := fail(true, ErrTypeTimeout, "no response within %d ms", timeoutMS)
		o.timedOut = true
		return o
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return fail(true, ErrTypeNetwork, "%s", opErr.Err.Error())
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fail(true, ErrTypeNetwork, "cannot resolve %s", dnsErr.Name)
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	return fail(true, ErrTypeNetwork, "%v", err)
}

// parseRetryAfter reads seconds or an HTTP date, capped at maxRetryAfter; 0 if absent.
func parseRetryAfter(v string, now time.Time) time.Duration {
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
	return min(d, maxRetryAfter)
}

// flattenHeaders keeps the first value of at most 50 headers, each cut to 1 KiB.
func flattenHeaders(h http.Header) map[string]string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]string, min(len(keys), maxResponseHeaders))
	for _, k := range keys {
		if len(out) == maxResponseHeaders {
			break
		}
		v := h.Get(k)
		if len(v) > maxResponseHeaderSize {
			v = v[:maxResponseHeaderSize]
		}
		out[k] = v
	}
	return out
}

// redactURL drops the query string, which often carries tokens, from URLs in messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}
