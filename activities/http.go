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
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/httpguard"
)

// Error types of attempt outcomes, as shown in the Temporal UI.
const (
	ErrTypeHTTPStatus = "HTTPStatus"
	ErrTypeNetwork    = "NetworkError"
	ErrTypeTimeout    = "AttemptTimeout"
	// ErrTypeNotSent is SendAttempt's error when the attempt could not be prepared
	// (PostgreSQL did not answer): nothing was sent, so the same attempt is tried again.
	ErrTypeNotSent = "AttemptNotSent"
	// ErrTypeActionMissing: the action is not in PostgreSQL; nothing is sent.
	ErrTypeActionMissing = "ActionMissing"
	// ErrTypeRefused: the egress guard refused the destination; nothing was sent.
	ErrTypeRefused = "EgressRefused"
	// ErrTypeHeldBack: the destination's circuit is open and this attempt is not its probe,
	// or the destination has its limit of attempts in flight; nothing was sent, and the
	// attempt waits, uncounted (details: milliseconds to wait at most, and whether it waits
	// in the destination's line, to be woken by actions.SignalSlotFree before that).
	ErrTypeHeldBack = "DestinationHeldBack"
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

// AttemptInput is one attempt of an action.
type AttemptInput struct {
	ActionID string
	TenantID string
	Attempt  int // from 1; sent as X-Threada-Attempt
	Request  domain.ActionRequest
}

// AttemptOutcome is how the receiver answered an attempt. It names the receiver's
// problem only: nothing in it comes from Threada's own infrastructure.
type AttemptOutcome struct {
	Response   *domain.ActionResponse // nil when no answer came
	Error      string                 // "" when the receiver accepted the call; else what tenants read as last_error
	ErrType    string
	Retryable  bool
	TimedOut   bool
	RetryAfter time.Duration // from the receiver's Retry-After, 0 if none
	// Lost says no answer came back from SendAttempt (its worker stopped): the
	// destination is not to blame.
	Lost bool
	// Recorded says SendAttempt stored the outcome itself; if not, the workflow does.
	Recorded bool
}

// CallResult is the workflow's result for a succeeded action; the full response is in
// PostgreSQL.
type CallResult struct {
	StatusCode int
	DurationMS int64
}

// Status is the action's status once this outcome of attempt n (of at most maxAttempts)
// is recorded.
func (o *AttemptOutcome) Status(attempt, maxAttempts int) string {
	switch {
	case o.Error == "":
		return domain.ActionSucceeded
	case o.Retryable && attempt < maxAttempts:
		return domain.ActionRetrying
	case o.TimedOut:
		return domain.ActionTimedOut
	}
	return domain.ActionFailed
}

// DestinationFailed says whether the attempt counts against its destination's circuit: a
// network error, a timeout or a 5xx (not a refusal of Threada's, nor an attempt lost with
// its worker).
func (o *AttemptOutcome) DestinationFailed() bool {
	switch {
	case o.Lost || o.Error == "":
		return false
	case o.ErrType == ErrTypeNetwork || o.ErrType == ErrTypeTimeout:
		return true
	}
	return o.Response != nil && o.Response.StatusCode >= 500
}

// Outcome is the attempt's outcome in its attempt log.
func (o *AttemptOutcome) Outcome() string {
	switch {
	case o.Error == "":
		return domain.AttemptSucceeded
	case o.ErrType == ErrTypeRefused:
		return domain.AttemptRefused
	case o.TimedOut:
		return domain.AttemptTimedOut
	}
	return domain.AttemptFailed
}

// Record is what PostgreSQL keeps of this outcome; next is when the following attempt is
// due, kept only while retrying.
func (o *AttemptOutcome) Record(in AttemptInput, next time.Time) AttemptRecord {
	rec := AttemptRecord{
		ActionID: in.ActionID, Attempt: in.Attempt, Status: o.Status(in.Attempt, in.Request.MaxAttempts),
		Outcome: o.Outcome(), LastError: o.Error, Response: o.Response,
		Destination: domain.Destination(in.Request.URL), DestinationFailed: o.DestinationFailed(),
	}
	if rec.Status == domain.ActionRetrying {
		next = next.UTC()
		rec.NextAttemptAt = &next
	}
	return rec
}

// SendAttempt makes one attempt of an action: unless the action ended meanwhile, it sends
// the signed request once and returns how the receiver answered. It then tries once to
// record that outcome; when PostgreSQL does not answer it leaves the record to the
// workflow (Recorded false) rather than fail, so a call that went out is never sent again
// because of the database. Its errors: ErrTypeNotSent (nothing was sent), and the
// non-retryable ErrTypeRecorded and ActionMissing.
func (a *Activities) SendAttempt(ctx context.Context, in AttemptInput) (*AttemptOutcome, error) {
	secrets, err := a.prepare(ctx, in.ActionID, in.TenantID, in.Request.URL, in.Attempt)
	if err != nil {
		return nil, err
	}
	o := a.timedCall(ctx, in, secrets)
	next := a.now().Add(actions.Retry.Delay(in.Attempt, o.RetryAfter))
	o.Recorded = a.tryRecord(ctx, o.Record(in, next))
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
		return nil, temporal.NewNonRetryableApplicationError("action "+actionID+" does not exist", ErrTypeActionMissing, nil)
	case err != nil:
		return nil, notSent(err)
	case !st.Live:
		return nil, temporal.NewNonRetryableApplicationError("the action is already "+st.Action.Status, ErrTypeRecorded, nil)
	case st.WaitUntil != nil:
		wait := max(time.Until(*st.WaitUntil), 100*time.Millisecond)
		return nil, temporal.NewNonRetryableApplicationError(st.Why, ErrTypeHeldBack, nil, wait.Milliseconds(), st.InLine)
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
		ErrTypeNotSent, cause)
}

// tryRecord stores an outcome if PostgreSQL answers within the time the activity has left,
// and reports whether it did.
func (a *Activities) tryRecord(ctx context.Context, rec AttemptRecord) bool {
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
func (a *Activities) call(ctx context.Context, actionID string, r domain.ActionRequest, attempt int, secrets []string) AttemptOutcome {
	target := redactURL(r.URL)
	fail := func(retryable bool, errType, format string, args ...any) AttemptOutcome {
		return AttemptOutcome{Error: fmt.Sprintf("%s %s: ", r.Method, target) + fmt.Sprintf(format, args...), Retryable: retryable, ErrType: errType}
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
	var o AttemptOutcome
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return AttemptOutcome{Response: got}
	case code >= 300 && code < 400:
		o = fail(false, "HTTPRedirect", "%s (redirects are not followed)", status)
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		o = fail(true, ErrTypeHTTPStatus, "%s", status)
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			o.RetryAfter = actions.RetryAfter(resp.Header.Get("Retry-After"), a.now())
		}
	default:
		o = fail(false, "HTTPRejected", "%s", status)
	}
	o.Response = got
	return o
}

func classifyTransportError(err error, callCtx, ctx context.Context, fail func(bool, string, string, ...any) AttemptOutcome, timeoutMS int) AttemptOutcome {
	switch {
	case httpguard.IsRefused(err):
		var re *httpguard.RefusedError
		errors.As(err, &re)
		return fail(false, ErrTypeRefused, "%v", re)
	case ctx.Err() != nil:
		return fail(true, ErrTypeNetwork, "the attempt was interrupted")
	case errors.Is(callCtx.Err(), context.DeadlineExceeded):
		o := fail(true, ErrTypeTimeout, "no response within %d ms", timeoutMS)
		o.TimedOut = true
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
