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
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/threada/threada/internal/actions"
	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/httpguard"
)

// prepareTimeout bounds the reads before a call, so a stalled database leaves the attempt
// its time (the workflow adds attemptGrace to timeout_ms for them and the record).
const prepareTimeout = 2 * time.Second

// Time SendAttempt gives its own record of the outcome: at most ownRecordTimeout, and it
// stops recordMargin before the activity's deadline, so a slow database never makes a call
// that went out look like an attempt that timed out.
const (
	ownRecordTimeout = 3 * time.Second
	recordMargin     = 500 * time.Millisecond
)

const (
	maxResponseHeaders    = 50
	maxResponseHeaderSize = 1024
)

// SendAttempt makes one attempt of an action: unless the action ended meanwhile, it sends
// the signed request once and returns how the receiver answered. It then tries once to
// record that outcome; when PostgreSQL does not answer it leaves the record to the
// workflow (Recorded false) rather than fail, so a call that went out is never sent again
// because of the database. Its errors: ErrTypeNotSent (nothing was sent), and the
// non-retryable ErrTypeRecorded and ActionMissing.
func (a *Activities) SendAttempt(ctx context.Context, in contract.AttemptInput) (*contract.AttemptOutcome, error) {
	secrets, err := a.prepare(ctx, in.ActionID, in.TenantID, in.Request.URL, in.Attempt)
	if err != nil {
		return nil, err
	}
	o := a.timedCall(ctx, in, secrets)
	o.Recorded = a.tryRecord(ctx, o.Record(in, a.now()))
	return &o, nil
}

// prepare checks that the action is still live, records attempt n as in flight and
// returns the tenant's signing secrets. Nothing is sent yet, so a database failure here is
// ErrTypeNotSent: safe to try again.
func (a *Activities) prepare(ctx context.Context, actionID, tenantID, url string, attempt int) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, prepareTimeout)
	defer cancel()
	st, err := a.Store.StartAttempt(ctx, actionID, attempt, domain.Destination(url), a.hostConcurrency())
	switch {
	case domain.ErrorCode(err) == domain.ENOTFOUND:
		return nil, temporal.NewNonRetryableApplicationError("action "+actionID+" does not exist", contract.ErrTypeActionMissing, nil)
	case err != nil:
		return nil, notSent(err)
	case !st.Live:
		return nil, temporal.NewNonRetryableApplicationError("the action is already "+st.Action.Status, contract.ErrTypeRecorded, nil)
	case st.WaitUntil != nil:
		wait := max(time.Until(*st.WaitUntil), 100*time.Millisecond)
		return nil, temporal.NewNonRetryableApplicationError(st.Why, contract.ErrTypeHeldBack, nil, wait.Milliseconds(), st.InLine)
	}
	secrets, err := a.signingSecrets(ctx, tenantID)
	if err != nil {
		return nil, notSent(err)
	}
	return secrets, nil
}

// notSent wraps a failure to prepare an attempt. Its message is the same whatever the
// cause: the cause (a driver error naming an internal address) is for ops, in the Temporal
// UI, and must never read as a receiver's problem.
func notSent(cause error) error {
	return temporal.NewApplicationErrorWithCause("the attempt could not be prepared (Threada's database did not answer); nothing was sent",
		contract.ErrTypeNotSent, cause)
}

// tryRecord stores an outcome if PostgreSQL answers within the time the activity has left,
// and reports whether it did.
func (a *Activities) tryRecord(ctx context.Context, rec contract.AttemptRecord) bool {
	budget := ownRecordTimeout
	if deadline, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(deadline)-recordMargin)
	}
	if budget <= 0 {
		return false
	}
	rctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	if _, err := a.record(rctx, rec); err != nil {
		activity.GetLogger(ctx).Warn("attempt outcome not recorded; the workflow records it",
			"action_id", rec.ActionID, "attempt", rec.Attempt, "error", err)
		return false
	}
	return true
}

// call sends the request once, signed, within the action's per-attempt timeout.
func (a *Activities) call(ctx context.Context, actionID string, r domain.ActionRequest, attempt int, secrets []string) contract.AttemptOutcome {
	target := redactURL(r.URL)
	fail := func(retryable bool, errType, format string, args ...any) contract.AttemptOutcome {
		return contract.AttemptOutcome{Error: fmt.Sprintf("%s %s: ", r.Method, target) + fmt.Sprintf(format, args...), Retryable: retryable, ErrType: errType}
	}
	callCtx, cancel := context.WithTimeout(ctx, time.Duration(r.TimeoutMS)*time.Millisecond)
	defer cancel()

	req, err := actions.NewRequest(callCtx, r)
	if err != nil {
		return fail(false, "BadRequest", "cannot build the request: %v", err)
	}
	if err := actions.Sign(req, r, actionID, attempt, secrets, a.now()); err != nil {
		return fail(false, "BadSecret", "%v", err)
	}
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
	// PostgreSQL cannot store NUL in text or jsonb; keep the rest of what the receiver said.
	got.Body = strings.ToValidUTF8(strings.ReplaceAll(string(data), "\x00", "\uFFFD"), "\uFFFD")
	if readErr != nil {
		o := classifyTransportError(readErr, callCtx, ctx, fail, r.TimeoutMS)
		o.Response = got
		return o
	}

	status := fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	var o contract.AttemptOutcome
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return contract.AttemptOutcome{Response: got}
	case code >= 300 && code < 400:
		o = fail(false, "HTTPRedirect", "%s (redirects are not followed)", status)
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		o = fail(true, contract.ErrTypeHTTPStatus, "%s", status)
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			o.RetryAfter = contract.RetryAfter(resp.Header.Get("Retry-After"), a.now())
		}
	default:
		o = fail(false, "HTTPRejected", "%s", status)
	}
	o.Response = got
	return o
}

func classifyTransportError(err error, callCtx, ctx context.Context, fail func(bool, string, string, ...any) contract.AttemptOutcome, timeoutMS int) contract.AttemptOutcome {
	switch {
	case httpguard.IsRefused(err):
		var re *httpguard.RefusedError
		errors.As(err, &re)
		return fail(false, contract.ErrTypeRefused, "%v", re)
	case ctx.Err() != nil:
		return fail(true, contract.ErrTypeNetwork, "the attempt was interrupted")
	case errors.Is(callCtx.Err(), context.DeadlineExceeded):
		o := fail(true, contract.ErrTypeTimeout, "no response within %d ms", timeoutMS)
		o.TimedOut = true
		return o
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return fail(true, contract.ErrTypeNetwork, "%s", opErr.Err.Error())
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fail(true, contract.ErrTypeNetwork, "cannot resolve %s", dnsErr.Name)
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	return fail(true, contract.ErrTypeNetwork, "%v", err)
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
