package contract

import (
	"time"

	"github.com/threada/threada/internal/domain"
)

// The activities' side of the contract (activities/ implements them): their inputs,
// outcomes and error types.

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
	// in the destination's line, to be woken by SignalSlotFree before that).
	ErrTypeHeldBack = "DestinationHeldBack"
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

// Record is what PostgreSQL keeps of this outcome of in, made at now; while retrying it
// holds when the next attempt is due (Retry's delay, or the receiver's Retry-After). The
// attempt's activity and its workflow both make it, so they agree on that time.
func (o *AttemptOutcome) Record(in AttemptInput, now time.Time) AttemptRecord {
	rec := AttemptRecord{
		ActionID: in.ActionID, Attempt: in.Attempt, Status: o.Status(in.Attempt, in.Request.MaxAttempts),
		Outcome: o.Outcome(), LastError: o.Error, Response: o.Response,
		Destination: domain.Destination(in.Request.URL), DestinationFailed: o.DestinationFailed(),
	}
	if rec.Status == domain.ActionRetrying {
		next := now.Add(Retry.Delay(in.Attempt, o.RetryAfter)).UTC()
		rec.NextAttemptAt = &next
	}
	return rec
}

// ExpectedErrorTypes are SendAttempt's errors that are the normal course of an action,
// which the workflow handles: an attempt held back by its destination, not sent while
// PostgreSQL is away, or made after the action ended. The worker logs them at WARN.
var ExpectedErrorTypes = []string{ErrTypeHeldBack, ErrTypeNotSent, ErrTypeRecorded}

// ErrTypeRecorded marks an activity error whose outcome is already recorded in
// PostgreSQL (the action was canceled meanwhile, say), so the workflow records nothing.
const ErrTypeRecorded = "ActionOutcomeRecorded"

// AttemptRecord is what PostgreSQL keeps of an attempt's outcome, or of a run's end that
// is no attempt's (Attempt 0: canceled).
type AttemptRecord struct {
	ActionID  string
	Attempt   int
	Status    string // retrying, or a terminal status
	Outcome   string // the attempt's (domain.Attempt*); "" for a cancel
	LastError string // the attempt's error; for a cancel, why
	// Destination and whether the attempt counts against its circuit (see
	// AttemptOutcome.DestinationFailed).
	Destination       string
	DestinationFailed bool
	Response          *domain.ActionResponse
	NextAttemptAt     *time.Time
}

// CallInput is one action call of a run started before the attempt loop.
type CallInput struct {
	ActionID string
	TenantID string
	Request  domain.ActionRequest
}

// OutcomeInput records a final outcome CustomHTTPCall could not record itself.
type OutcomeInput struct {
	ActionID  string
	Status    string
	LastError string
}

// ReplayStepInput is one step of a bulk replay: up to Max more actions.
type ReplayStepInput struct {
	BatchID string
	Max     int
}

// ReplayStepResult says how many actions a step replayed, whether the batch still waits
// for its tenant's running one (queued), and whether it is done.
type ReplayStepResult struct {
	Replayed int
	Queued   bool
	Done     bool
}

// FireTimerInput is a timer's generation that came due.
type FireTimerInput struct {
	TimerID    string
	Generation int64
}

// FireTimerResult says whether the timer fired, and the generation it continues with when
// it moved on to a next mark (an SLA warning's breach): Next 0 means it is done.
type FireTimerResult struct {
	Fired     bool
	Next      int64
	NextDueAt time.Time
}
