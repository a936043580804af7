package domain

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// PrefixAction starts every action ID.
const PrefixAction = "act"

// ActionTypeCustomHTTP is the one action type: an HTTP call to the tenant's systems.
const ActionTypeCustomHTTP = "custom_http"

// Action statuses. The last four are terminal.
const (
	ActionQueued    = "queued"    // accepted; no attempt running yet
	ActionRunning   = "running"   // an attempt is in flight
	ActionRetrying  = "retrying"  // an attempt failed and another is scheduled
	ActionSucceeded = "succeeded" // the receiver answered 2xx
	ActionFailed    = "failed"    // a permanent error, or the last attempt failed
	ActionCanceled  = "canceled"  // canceled through the API or stopped in Temporal
	ActionTimedOut  = "timed_out" // the last attempt got no answer within timeout_ms
)

// ActionStatuses lists every status, in lifecycle order.
var ActionStatuses = []string{ActionQueued, ActionRunning, ActionRetrying, ActionSucceeded, ActionFailed, ActionCanceled, ActionTimedOut}

// ActionTerminal reports whether an action in status s will not change again.
func ActionTerminal(s string) bool {
	return s == ActionSucceeded || s == ActionFailed || s == ActionCanceled || s == ActionTimedOut
}

// TerminalActionStatuses are the statuses ActionTerminal accepts.
var TerminalActionStatuses = []string{ActionSucceeded, ActionFailed, ActionCanceled, ActionTimedOut}

// Limits and defaults of custom_http actions.
const (
	DefaultActionTimeoutMS   = 10_000
	MaxActionTimeoutMS       = 60_000
	MinActionTimeoutMS       = 100
	DefaultActionMaxAttempts = 5
	MaxActionMaxAttempts     = 25
	MaxActionHeaders         = 50
	MaxAllowedHosts          = 100
	MaxActionHeaderValueLen  = 8 << 10
	// MaxActionBodyBytes bounds body_json (in bytes). The request around it may be larger
	// (headers, url), within the API's body limit.
	MaxActionBodyBytes   = 256 << 10
	MaxActionURLLen      = 2048
	MaxResponseBodyBytes = 64 << 10
)

// ActionMethods are the HTTP methods an action may use.
var ActionMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// reservedHeaders are set by Threada on every attempt, or by the HTTP stack, and cannot be
// given in a payload.
var reservedHeaders = []string{
	"Host", "Content-Length", "Transfer-Encoding", "Connection", "Content-Type",
	"Idempotency-Key", "Webhook-Id", "Webhook-Timestamp", "Webhook-Signature",
	"X-Threada-Attempt", "Upgrade", "Te", "Trailer", "Keep-Alive", "Proxy-Connection",
}

// CustomHTTPPayload is a custom_http action as the client submitted it. TimeoutMS and
// MaxAttempts stay nil when not given, so the payload echoes back unchanged.
type CustomHTTPPayload struct {
	Type        string            `json:"type"`
	Method      string            `json:"method"`
	URL         string            `json:"url"`
	Headers     map[string]string `json:"headers,omitempty"`
	BodyJSON    string            `json:"body_json,omitempty"`
	TimeoutMS   *int              `json:"timeout_ms,omitempty"`
	MaxAttempts *int              `json:"max_attempts,omitempty"`
}

// ActionSettings are the tenant settings an action is checked and completed against.
type ActionSettings struct {
	ActionsBaseURL     string
	AllowedHosts       []string
	DefaultTimeoutMS   int // 0: DefaultActionTimeoutMS
	DefaultMaxAttempts int // 0: DefaultActionMaxAttempts
}

// ActionRequest is a validated custom_http call, ready to run.
type ActionRequest struct {
	Method      string
	URL         string // absolute, resolved against the tenant's base URL
	Headers     map[string]string
	BodyJSON    string
	TimeoutMS   int
	MaxAttempts int
	// DeliveryID is sent as webhook-id and Idempotency-Key: the action's own ID, or for a
	// replay the original's, so a receiver can tell the replay of a call it processed.
	DeliveryID string `json:",omitempty"`
}

// MessageID is what the request's webhook-id and Idempotency-Key carry for action id.
func (r *ActionRequest) MessageID(actionID string) string {
	if r.DeliveryID != "" {
		return r.DeliveryID
	}
	return actionID
}

// Validate checks p against the tenant's settings and returns the call to make. Params
// are named as in the request body (payload.url, ...).
func (p *CustomHTTPPayload) Validate(s ActionSettings) (ActionRequest, error) {
	r := ActionRequest{Method: p.Method, Headers: p.Headers, BodyJSON: p.BodyJSON, TimeoutMS: DefaultActionTimeoutMS, MaxAttempts: DefaultActionMaxAttempts}
	if s.DefaultTimeoutMS > 0 {
		r.TimeoutMS = s.DefaultTimeoutMS
	}
	if s.DefaultMaxAttempts > 0 {
		r.MaxAttempts = s.DefaultMaxAttempts
	}
	if p.Type != ActionTypeCustomHTTP {
		return r, Invalidf("payload.type", "`payload.type` must be %q; got %q.", ActionTypeCustomHTTP, p.Type)
	}
	if !slices.Contains(ActionMethods, p.Method) {
		return r, Invalidf("payload.method", "`payload.method` must be one of %s; got %q.", strings.Join(ActionMethods, ", "), p.Method)
	}
	u, err := resolveActionURL(p.URL, s)
	if err != nil {
		return r, err
	}
	r.URL = u
	if err := checkCall("payload", p.Method, p.Headers, p.BodyJSON, p.TimeoutMS, p.MaxAttempts); err != nil {
		return r, err
	}
	if p.BodyJSON != "" && !json.Valid([]byte(p.BodyJSON)) {
		return r, Invalidf("payload.body_json", "`payload.body_json` must be a string holding valid JSON, e.g. \"{\\\"event\\\":\\\"ticket_updated\\\"}\".")
	}
	if p.TimeoutMS != nil {
		r.TimeoutMS = *p.TimeoutMS
	}
	if p.MaxAttempts != nil {
		r.MaxAttempts = *p.MaxAttempts
	}
	return r, nil
}

// checkCall checks the parts of a call that neither the tenant's settings nor an
// automation's templates change: the headers (count, names, the characters and size of
// the values), the body's size and method, the timeout and the attempts. An automation's
// custom_http action is held to them when it is saved or tried, as a payload is; param
// prefixes the fields named ("payload", "actions[0]").
func checkCall(param, method string, headers map[string]string, body string, timeoutMS, maxAttempts *int) error {
	if err := checkActionHeaders(param, headers); err != nil {
		return err
	}
	if body != "" {
		if method == http.MethodGet {
			return Invalidf(param+".body_json", "`%s.body_json` cannot be sent with GET; use POST, PUT, PATCH or DELETE.", param)
		}
		if len(body) > MaxActionBodyBytes {
			return Invalidf(param+".body_json", "`%s.body_json` must be at most %d bytes.", param, MaxActionBodyBytes)
		}
	}
	if timeoutMS != nil && (*timeoutMS < MinActionTimeoutMS || *timeoutMS > MaxActionTimeoutMS) {
		return Invalidf(param+".timeout_ms", "`%s.timeout_ms` must be from %d to %d; got %d.", param, MinActionTimeoutMS, MaxActionTimeoutMS, *timeoutMS)
	}
	if maxAttempts != nil && (*maxAttempts < 1 || *maxAttempts > MaxActionMaxAttempts) {
		return Invalidf(param+".max_attempts", "`%s.max_attempts` must be from 1 to %d; got %d.", param, MaxActionMaxAttempts, *maxAttempts)
	}
	return nil
}

// resolveActionURL turns a relative URL ("/hooks/zapier") into the tenant's base URL plus
// that path, and admits an absolute URL only for a host on the tenant's allow-list.
func resolveActionURL(raw string, s ActionSettings) (string, error) {
	const param = "payload.url"
	if raw == "" || utf8.RuneCountInString(raw) > MaxActionURLLen || strings.ContainsAny(raw, " \t\r\n\x00") {
		return "", Invalidf(param, "`payload.url` must be a relative path like /hooks/zapier or an absolute http(s) URL of at most %d characters.", MaxActionURLLen)
	}
	if strings.HasPrefix(raw, "/") && !strings.HasPrefix(raw, "//") {
		if s.ActionsBaseURL == "" {
			return "", Invalidf(param, "`payload.url` is relative, but this tenant has no actions base URL to resolve it against; set one, or use an absolute URL on the tenant's allowed hosts.")
		}
		full := strings.TrimSuffix(s.ActionsBaseURL, "/") + raw
		if _, err := url.Parse(full); err != nil {
			return "", Invalidf(param, "`payload.url` does not make a valid URL with the tenant's base URL.")
		}
		return full, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return "", Invalidf(param, "`payload.url` must be a relative path like /hooks/zapier or an absolute http(s) URL without credentials or fragment.")
	}
	if !HostAllowed(u.Hostname(), s.AllowedHosts) {
		return "", Invalidf(param, "`payload.url` host %q is not on this tenant's allowed hosts; add it to the allow-list or use a path relative to the actions base URL.", u.Hostname())
	}
	return raw, nil
}

// HostAllowed reports whether host matches the allow-list: an exact name, or a
// "*.example.com" entry for any subdomain of example.com.
func HostAllowed(host string, allowed []string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, a := range allowed {
		a = strings.ToLower(a)
		if a == host {
			return true
		}
		if suffix, ok := strings.CutPrefix(a, "*"); ok && strings.HasPrefix(suffix, ".") && strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
			return true
		}
	}
	return false
}

// NormalizeAllowedHosts checks an allow-list of host names and wildcard entries.
func NormalizeAllowedHosts(param string, hosts []string) ([]string, error) {
	// Counted before any per-host work, so a huge list costs nothing.
	if len(hosts) > MaxAllowedHosts {
		return nil, Invalidf(param, "`%s` can hold at most %d hosts; got %d.", param, MaxAllowedHosts, len(hosts))
	}
	out := []string{}
	for i, h := range hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		name := strings.TrimPrefix(h, "*.")
		if len(h) > 253 || name == "" || strings.ContainsAny(name, "/:@ *?#[]") {
			at := fmt.Sprintf("%s[%d]", param, i)
			return nil, Invalidf(at, "`%s`: %q is not a host name; use names like hooks.example.com or *.example.com.", at, h)
		}
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out, nil
}

// CheckActionsBaseURL accepts an absolute http(s) URL without query, fragment or
// credentials, or "" for none.
func CheckActionsBaseURL(param, raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return Invalidf(param, "%s must be an absolute http(s) URL without query, fragment or credentials, like https://hooks.example.com; got %q.", param, raw)
	}
	return nil
}

func checkActionHeaders(prefix string, h map[string]string) error {
	if len(h) > MaxActionHeaders {
		return Invalidf(prefix+".headers", "`%s.headers` can hold at most %d headers.", prefix, MaxActionHeaders)
	}
	for name, value := range h {
		param := prefix + ".headers." + name
		if !validHeaderName(name) {
			return Invalidf(param, "`%s`: %q is not a valid HTTP header name.", param, name)
		}
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if slices.Contains(reservedHeaders, canon) || strings.HasPrefix(canon, "Proxy-") {
			return Invalidf(param, "`%s`: the %s header is set by Threada or the HTTP stack and cannot be given.", param, canon)
		}
		if !validHeaderValue(value) {
			return Invalidf(param, "`%s` may hold only visible ASCII characters, space and tab.", param)
		}
		if len(value) > MaxActionHeaderValueLen {
			return Invalidf(param, "`%s` must be at most %d bytes.", param, MaxActionHeaderValueLen)
		}
	}
	return nil
}

// validHeaderValue reports whether s holds only visible ASCII, space and tab: what every
// receiver and proxy passes through unchanged.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 || c > 0x7e) && c != '\t' {
			return false
		}
	}
	return true
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// ActionResponse is what the receiver answered to the latest attempt.
type ActionResponse struct {
	StatusCode    int               `json:"status_code"`
	Headers       map[string]string `json:"headers"`
	Body          string            `json:"body"`
	BodyTruncated bool              `json:"body_truncated"`
	DurationMS    int64             `json:"duration_ms"`
}

// Action is one run of an automation for a ticket.
type Action struct {
	ID            string
	TenantID      string
	TicketID      string
	Type          string
	Status        string
	RequestedBy   string // "api_key:<key id>" or "automation:<automation id>"
	Payload       CustomHTTPPayload
	Request       ActionRequest
	Attempts      int
	NextAttemptAt *time.Time
	LastError     string // the last failed attempt's error, kept after a cancel
	// CanceledReason says why a canceled action stopped ("" unless canceled).
	CanceledReason string
	ReplayOf       string // the action this one replays, if it is a replay
	// Origin says what created it (Origin*): it sets the action's place in the shared
	// engine's queues (see internal/fairness).
	Origin      string
	Response    *ActionResponse
	Started     bool // its workflow has been started in Temporal
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CompletedAt *time.Time
}

// Origins of actions.
const (
	OriginAPI        = "api"         // a client's POST /actions, or its single replay
	OriginAutomation = "automation"  // an automation's custom_http
	OriginBulkReplay = "bulk_replay" // a bulk replay's
)

// Replay returns a new action that runs a's payload again for requestedBy, checked
// against the tenant's settings as they are now, with a's webhook-id and Idempotency-Key.
// Its ID is left to the caller.
func (a *Action) Replay(s ActionSettings, requestedBy string) (*Action, error) {
	payload := a.Payload
	call, err := payload.Validate(s)
	if err != nil {
		return nil, err
	}
	call.DeliveryID = a.Request.MessageID(a.ID)
	return &Action{TenantID: a.TenantID, TicketID: a.TicketID, Type: a.Type, RequestedBy: requestedBy,
		Payload: payload, Request: call, ReplayOf: a.ID, Origin: OriginAPI}, nil
}

// Attempt outcomes.
const (
	AttemptSucceeded = "succeeded" // the receiver answered 2xx
	AttemptFailed    = "failed"    // another answer, or a network error
	AttemptTimedOut  = "timed_out" // no answer within timeout_ms (or its worker stopped)
	AttemptRefused   = "refused"   // Threada refused to send it (egress policy): nothing left
	AttemptCanceled  = "canceled"  // the action was canceled while the attempt was in flight
)

// ActionAttempt is one attempt of an action, as recorded; Outcome is "" while the attempt
// is in flight.
type ActionAttempt struct {
	ActionID      string
	Attempt       int
	StartedAt     time.Time
	CompletedAt   *time.Time
	Outcome       string
	Error         string
	Response      *ActionResponse
	NextAttemptAt *time.Time
}

// ActionCursor is a position in a ticket's action listing (created_at desc, id desc).
type ActionCursor struct {
	CreatedAt time.Time
	ID        string
}
