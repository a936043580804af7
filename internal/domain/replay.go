package domain

import (
	"strings"
	"time"
	"unicode"
)

// PrefixReplayBatch starts every bulk replay ID (also its workflow ID).
const PrefixReplayBatch = "arp"

// ScopeAdminActions lets a key replay actions in bulk.
const ScopeAdminActions = "admin.actions"

// Bulk replay limits.
const (
	MaxReplayWindow        = 30 * 24 * time.Hour
	MaxReplayBatch         = 100_000 // matching actions one bulk replay may cover
	DefaultReplayRate      = 10
	MaxReplayRate          = 100
	ReplaySamples          = 5
	ReplayBatchQueued      = "queued" // waiting for the tenant's running batch to end
	ReplayBatchRunning     = "running"
	ReplayBatchSucceeded   = "succeeded"
	ReplayBatchCanceled    = "canceled"
	ReplayBatchFailed      = "failed"
	replayFilterHostMaxLen = 253
)

// Per-tenant bounds on bulk replays, so one tenant's replays cannot crowd out the others'
// actions on the shared engine (issue 18: three replays of 100,000 against a slow receiver
// took another tenant's single actions from p50 0.25 s to 30 s).
const (
	// MaxQueuedReplays is how many of a tenant's bulk replays may wait, queued, behind
	// its one running replay; one more is refused.
	MaxQueuedReplays = 10
	// ReplayWindow bounds a running replay's unfinished replays (queued, running or
	// retrying): a step creates new ones only while fewer are unfinished, so a replay
	// goes at its receiver's pace instead of piling up waiting workflows.
	ReplayWindow = 32
	// ReplayWindowShared is the window while another tenant has live work (a client's or
	// an automation's action started within ReplayYieldLookback): the replay yields the
	// engine to them, and still goes on.
	ReplayWindowShared  = 4
	ReplayYieldLookback = 10 * time.Second
	// ReplayStepMax bounds the replays one step (one second) starts, so a replay reaches
	// its window over a few seconds rather than in one burst of workflow starts.
	ReplayStepMax = 8
)

// ReplayBatchActive says whether a bulk replay with status s has not ended yet (queued
// or running): it can be canceled, and its workflow is still going.
func ReplayBatchActive(s string) bool { return s == ReplayBatchQueued || s == ReplayBatchRunning }

// ReplayFilter selects the finished actions a bulk replay runs again: those created in
// [Since, Until), and, when set, of one terminal status, ticket, automation or host.
type ReplayFilter struct {
	Status       string    `json:"status,omitempty"`
	TicketID     string    `json:"ticket_id,omitempty"`
	AutomationID string    `json:"automation_id,omitempty"`
	Host         string    `json:"host,omitempty"`
	Since        time.Time `json:"since"`
	Until        time.Time `json:"until"`
}

// Normalize checks f (params as in the request body, under filter.).
func (f *ReplayFilter) Normalize() error {
	switch {
	case f.Since.IsZero():
		return Invalidf("filter.since", "`filter.since` is required: a bulk replay covers a time window of at most 30 days.")
	case f.Until.IsZero():
		return Invalidf("filter.until", "`filter.until` is required: a bulk replay covers a time window of at most 30 days.")
	case !f.Until.After(f.Since):
		return Invalidf("filter.until", "`filter.until` must be after `filter.since`.")
	case f.Until.Sub(f.Since) > MaxReplayWindow:
		return Invalidf("filter.until", "The window from `filter.since` to `filter.until` must be at most 30 days.")
	}
	if f.Status != "" && !ActionTerminal(f.Status) {
		return Invalidf("filter.status", "`filter.status` must be a finished status (succeeded, failed, canceled or timed_out): only finished actions are replayed.")
	}
	if f.TicketID != "" && !ValidID(PrefixTicket, f.TicketID) {
		return Invalidf("filter.ticket_id", "`filter.ticket_id` is not a ticket id.")
	}
	if f.AutomationID != "" && !ValidID(PrefixAutomation, f.AutomationID) {
		return Invalidf("filter.automation_id", "`filter.automation_id` is not an automation id.")
	}
	if f.Host != "" {
		f.Host = strings.ToLower(strings.TrimSuffix(f.Host, "."))
		if !HostFilterOK(f.Host) {
			return Invalidf("filter.host", "`filter.host` must be a host name such as hooks.example.com.")
		}
	}
	f.Since, f.Until = f.Since.UTC(), f.Until.UTC()
	return nil
}

// HostFilterOK reports whether h, lower-cased and without its trailing dot, can be a host
// name to filter actions by: 1 to 253 bytes without / : ? # @, white space or control
// characters (a filter of "." would otherwise match every action).
func HostFilterOK(h string) bool {
	return h != "" && len(h) <= replayFilterHostMaxLen && !strings.ContainsAny(h, "/:?#@") &&
		strings.IndexFunc(h, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) < 0
}

// ReplayBatch is a bulk replay and its progress.
type ReplayBatch struct {
	ID            string
	TenantID      string
	Filter        ReplayFilter
	RatePerSecond int
	Status        string
	Matched       int // matching actions when it started
	Replayed      int
	Skipped       int // payloads the tenant's settings no longer allow
	RequestedBy   string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	CompletedAt   *time.Time
}
