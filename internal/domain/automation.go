package domain

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// ID prefixes of automations, their events and runs.
const (
	PrefixAutomation = "aut"
	PrefixEvent      = "evt"
	PrefixRun        = "run"
)

// Ticket event types automations can listen to.
const (
	EventTicketCreated  = "ticket.created"
	EventTicketUpdated  = "ticket.updated"
	EventMessageCreated = "message.created"
	// EventSLAWarning and EventSLABreached come from a ticket's SLA clocks.
	EventSLAWarning  = "sla.warning"
	EventSLABreached = "sla.breached"
)

// EventDelayElapsed is the outbox event of a delay automation's timer that fired: only
// that automation evaluates it, with the ticket as it is then and the event that armed
// the timer as `event`. Automations cannot listen to it by name.
const EventDelayElapsed = "automation.delay_elapsed"

// EventTypes lists the event types automations can listen to, in documentation order.
var EventTypes = []string{EventTicketCreated, EventTicketUpdated, EventMessageCreated, EventSLAWarning, EventSLABreached}

// DelayEventTypes are the event types an automation with a delay can listen to.
var DelayEventTypes = []string{EventTicketCreated, EventTicketUpdated, EventMessageCreated}

// Bounds of an automation's delay. MinAutomationDelay is a variable so that end-to-end
// tests can fire a timer within seconds; the API documents one minute.
var MinAutomationDelay = time.Minute

const MaxAutomationDelay = 90 * 24 * time.Hour

// Automation action kinds.
const (
	AutomationCustomHTTP = ActionTypeCustomHTTP
	AutomationSetFields  = "set_fields"
	AutomationAddNote    = "add_note"
)

// Documented limits of automations.
const (
	MaxAutomationNameLen = 200
	MaxConditionLen      = 2000
	MaxAutomationActions = 10
	MaxNoteTemplateLen   = 10_000
	// DefaultMaxChainDepth: events at this depth are not evaluated. With 3, a client's change
	// (depth 1) can trigger an automation whose change (2) can trigger another (3, the end).
	DefaultMaxChainDepth   = 3
	MaxAutomationsByTenant = 1000
	// MaxDelayAutomationsByTenant bounds a tenant's time-based rules: each arms one timer
	// per ticket and event type, so this times the events a ticket sees is what one
	// tenant can put on the shared Temporal engine.
	MaxDelayAutomationsByTenant = 50
	// MaxTimersPerEvent bounds the delay timers one event arms (a tenant with more delay
	// rules than this from before the cap gets a run error for the rest).
	MaxTimersPerEvent = 50
	// MaxArmedTimersByTenant bounds a tenant's armed delay timers (open Temporal
	// workflows); an arm past it is refused with a run error.
	MaxArmedTimersByTenant = 100_000
)

// Automation is an admin's rule: when one of Events happens and Condition holds, run
// Actions in order.
type Automation struct {
	ID        string
	TenantID  string
	Name      string
	Enabled   bool
	Events    []string
	Condition string
	Actions   []AutomationAction
	Position  int // evaluation order, lowest first
	Version   int // bumped on every change
	// Delay, when set, makes the automation a time-based rule: its events arm a timer for
	// the ticket, and it is evaluated when the timer fires. Rearm says whether a newer
	// event of the same type re-arms an armed timer (true) or leaves it (false).
	Delay time.Duration
	Rearm bool
	// DisabledReason says why the worker disabled the automation; empty otherwise.
	DisabledReason string
	// BudgetFailures counts its evaluations in a row stopped by the rule budget.
	BudgetFailures int
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// AutomationAction is one step of an automation; Type says which fields apply.
type AutomationAction struct {
	Type string `json:"type"`
	// custom_http: the public actions payload; url, header values and body_json may hold
	// {{ expr }} templates.
	Method      string            `json:"method,omitempty"`
	URL         string            `json:"url,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	BodyJSON    string            `json:"body_json,omitempty"`
	TimeoutMS   *int              `json:"timeout_ms,omitempty"`
	MaxAttempts *int              `json:"max_attempts,omitempty"`
	// set_fields
	Status     *string  `json:"status,omitempty"`
	Priority   *string  `json:"priority,omitempty"`
	AddTags    []string `json:"add_tags,omitempty"`
	RemoveTags []string `json:"remove_tags,omitempty"`
	// add_note: the note's content, which may hold {{ expr }} templates.
	Content string `json:"content,omitempty"`

	// Given lists the fields a request sent, when the API knows them: a field of another
	// type sent empty ("content": "" on set_fields) is then refused like any other, not
	// taken for left out. Nil for actions read back from the store.
	Given []string `json:"-"`
}

// CheckShape checks the fields an action of its type may have and the values that need no
// expression engine; param is the action's path, e.g. "actions[0]".
func (a *AutomationAction) CheckShape(param string) error {
	has := map[string]bool{
		"method": a.Method != "", "url": a.URL != "", "headers": a.Headers != nil, "body_json": a.BodyJSON != "",
		"timeout_ms": a.TimeoutMS != nil, "max_attempts": a.MaxAttempts != nil,
		"status": a.Status != nil, "priority": a.Priority != nil, "add_tags": a.AddTags != nil, "remove_tags": a.RemoveTags != nil,
		"content": a.Content != "",
	}
	for _, field := range a.Given {
		if _, known := has[field]; known {
			has[field] = true
		}
	}
	allowed := map[string][]string{
		AutomationCustomHTTP: {"method", "url", "headers", "body_json", "timeout_ms", "max_attempts"},
		AutomationSetFields:  {"status", "priority", "add_tags", "remove_tags"},
		AutomationAddNote:    {"content"},
	}[a.Type]
	if allowed == nil {
		return Invalidf(param+".type", "`%s.type` must be one of custom_http, set_fields, add_note; got %q.", param, a.Type)
	}
	for field, present := range has {
		if present && !slices.Contains(allowed, field) {
			return Invalidf(param+"."+field, "`%s.%s` is not a field of a %s action.", param, field, a.Type)
		}
	}
	switch a.Type {
	case AutomationSetFields:
		if a.Status == nil && a.Priority == nil && len(a.AddTags) == 0 && len(a.RemoveTags) == 0 {
			return Invalidf(param, "`%s` sets nothing: give status, priority, add_tags or remove_tags.", param)
		}
		if a.Status != nil {
			if err := checkEnum(param+".status", *a.Status, Statuses); err != nil {
				return err
			}
		}
		if a.Priority != nil {
			if err := checkEnum(param+".priority", *a.Priority, Priorities); err != nil {
				return err
			}
		}
		var err error
		if a.AddTags, err = NormalizeTags(param+".add_tags", a.AddTags); err != nil {
			return err
		}
		if a.RemoveTags, err = NormalizeTags(param+".remove_tags", a.RemoveTags); err != nil {
			return err
		}
	case AutomationAddNote:
		if strings.TrimSpace(a.Content) == "" || utf8.RuneCountInString(a.Content) > MaxNoteTemplateLen {
			return Invalidf(param+".content", "`%s.content` is required, at most %d characters.", param, MaxNoteTemplateLen)
		}
	case AutomationCustomHTTP:
		if !slices.Contains(ActionMethods, a.Method) {
			return Invalidf(param+".method", "`%s.method` must be one of %s; got %q.", param, strings.Join(ActionMethods, ", "), a.Method)
		}
		if a.URL == "" {
			return Invalidf(param+".url", "`%s.url` is required.", param)
		}
		if n := utf8.RuneCountInString(a.URL); n > MaxActionURLLen {
			return Invalidf(param+".url", "`%s.url` must be at most %d characters; got %d.", param, MaxActionURLLen, n)
		}
		// A template can change neither these nor their characters, so they are checked
		// here, for a dry run too, and not only on the sample request CheckRule renders.
		return checkCall(param, a.Method, a.Headers, a.BodyJSON, a.TimeoutMS, a.MaxAttempts)
	}
	return nil
}

// Payload returns a custom_http action as a public actions payload (templates unrendered).
func (a *AutomationAction) Payload() CustomHTTPPayload {
	return CustomHTTPPayload{Type: ActionTypeCustomHTTP, Method: a.Method, URL: a.URL, Headers: a.Headers,
		BodyJSON: a.BodyJSON, TimeoutMS: a.TimeoutMS, MaxAttempts: a.MaxAttempts}
}

// AutomationInput is a new automation or, with nil meaning "keep", an update.
type AutomationInput struct {
	Name      *string
	Enabled   *bool
	Events    *[]string
	Condition *string
	Actions   *[]AutomationAction
	Position  *int
	// Delay sets the delay; ClearDelay removes it (the automation runs on its events again).
	Delay      *time.Duration
	ClearDelay bool
	Rearm      *bool
}

// CheckDelay checks a delay against its bounds and, with the automation's events as they
// will be, that they can arm timers.
func CheckDelay(d time.Duration, events []string) error {
	if d < MinAutomationDelay || d > MaxAutomationDelay || d%time.Second != 0 {
		return Invalidf("delay", "`delay` must be whole seconds from %s to 90 days (2160h), as a Go duration such as \"48h\" or \"90m\".", MinAutomationDelay)
	}
	for _, e := range events {
		if !slices.Contains(DelayEventTypes, e) {
			return Invalidf("events", "An automation with a `delay` can listen to %s only; %s is not one.", strings.Join(DelayEventTypes, ", "), e)
		}
	}
	return nil
}

// CheckStatic checks the fields of an input that need no expression engine. For a new
// automation (create), name, events, condition and actions are required.
func (in *AutomationInput) CheckStatic(create bool) error {
	if create {
		for name, missing := range map[string]bool{"name": in.Name == nil, "events": in.Events == nil, "condition": in.Condition == nil, "actions": in.Actions == nil} {
			if missing {
				return Invalidf(name, "`%s` is required.", name)
			}
		}
	}
	if in.Name != nil {
		n, err := checkLine("name", *in.Name, MaxAutomationNameLen, true)
		if err != nil {
			return err
		}
		in.Name = &n
	}
	if in.Events != nil {
		if len(*in.Events) == 0 {
			return Invalidf("events", "`events` needs at least one of %s.", strings.Join(EventTypes, ", "))
		}
		var evs []string
		for i, e := range *in.Events {
			if err := checkEnum(fmt.Sprintf("events[%d]", i), e, EventTypes); err != nil {
				return err
			}
			if !slices.Contains(evs, e) {
				evs = append(evs, e)
			}
		}
		in.Events = &evs
	}
	if in.Condition != nil {
		if strings.TrimSpace(*in.Condition) == "" {
			return Invalidf("condition", "`condition` is required; use `true` to match every event.")
		}
		if utf8.RuneCountInString(*in.Condition) > MaxConditionLen {
			return Invalidf("condition", "`condition` must be at most %d characters.", MaxConditionLen)
		}
	}
	if in.Actions != nil {
		acts := *in.Actions
		if len(acts) == 0 || len(acts) > MaxAutomationActions {
			return Invalidf("actions", "`actions` must hold 1 to %d actions.", MaxAutomationActions)
		}
		for i := range acts {
			if err := acts[i].CheckShape(fmt.Sprintf("actions[%d]", i)); err != nil {
				return err
			}
		}
	}
	if in.Position != nil && (*in.Position < 0 || *in.Position > 1_000_000) {
		return Invalidf("position", "`position` must be from 0 to 1000000.")
	}
	return nil
}

// Origin tells who made a change: the actor, and for changes automations made, how deep in
// a chain of automations it is and which automations fired on the way.
type Origin struct {
	Actor    string   // "api_key:<id>", "automation:<id>" or "system"
	Depth    int      // the event's place in its chain: 1 for a change made through the API
	Chain    []string // automations that fired in this chain, oldest first
	CausedBy string   // the automation whose effect this change is, if any
}

type originKey struct{}

// WithOrigin returns ctx carrying o; the store stamps the events it writes with it.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginFrom returns the origin ctx carries, or the "system" actor.
func OriginFrom(ctx context.Context) Origin {
	if o, ok := ctx.Value(originKey{}).(Origin); ok {
		return o
	}
	return Origin{Actor: "system"}
}

// FieldChange is one field's value before and after a change.
type FieldChange struct {
	From any `json:"from"`
	To   any `json:"to"`
}

// TicketEvent is a change to a ticket, written in the same transaction as the change.
type TicketEvent struct {
	ID         string
	TenantID   string
	TicketID   string
	Type       string
	Origin     Origin
	OccurredAt time.Time
	Ticket     Ticket                 // after the change
	Previous   *Ticket                // before; nil for ticket.created
	Changes    map[string]FieldChange // by field name: subject, status, priority, tags, contact
	Message    *Message               // message.created, and the initial message of ticket.created
	// Armed is, on an automation.delay_elapsed event, the event that armed the timer, and
	// Automation the automation the timer is for (the only one that evaluates it).
	Armed      *ArmingEvent
	Automation string
	// SLA is, on sla.warning and sla.breached, the clock that reached its mark.
	SLA *SLAMark
}

// ArmingEvent is the event that armed a delay automation's timer, as the condition sees it
// when the timer fires.
type ArmingEvent struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	Actor      string    `json:"actor"`
	Depth      int       `json:"depth"`
	OccurredAt time.Time `json:"occurred_at"`
}

// SLAMark is an SLA clock reaching its warning or its target.
type SLAMark struct {
	PolicyID string    `json:"policy_id"`
	Metric   string    `json:"metric"` // first_reply or resolution
	DueAt    time.Time `json:"due_at"`
}

// RunAction is what one action of a matched automation did.
type RunAction struct {
	Type     string `json:"type"`
	ActionID string `json:"action_id,omitempty"` // custom_http: the action started
	Error    string `json:"error,omitempty"`
}

// AutomationRun records one evaluation of an automation against an event.
type AutomationRun struct {
	ID                string
	TenantID          string
	AutomationID      string
	AutomationVersion int
	EventID           string
	EventType         string
	TicketID          string
	Matched           bool
	Skipped           string // why it was not evaluated (loop protection), if so
	Actions           []RunAction
	Error             string
	Explanation       *Explanation // why the condition held or not; nil if it was not evaluated
	EvaluatedAt       time.Time
}

// Explanation says why a condition held or not: each of its top-level clauses (split on
// && or ||, at most 20) with its value and the values of the fields it read.
type Explanation struct {
	Clauses     []ExplainedClause `json:"clauses"`
	MoreClauses int               `json:"more_clauses,omitempty"` // clauses past 20, not explained
}

// ExplainedClause is one clause of a condition, evaluated.
type ExplainedClause struct {
	Clause string           `json:"clause"`
	Value  string           `json:"value"` // as JSON, at most 200 characters
	Fields []ExplainedField `json:"fields"`
}

// ExplainedField is a field a clause read, with its value (as JSON, at most 200 characters).
type ExplainedField struct {
	Path  string `json:"path"`
	Value string `json:"value"`
}

// String renders the explanation one clause a line:
// `ticket.priority == "urgent" -> false (ticket.priority = "high")`.
func (e *Explanation) String() string {
	var b strings.Builder
	for i, c := range e.Clauses {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(c.Clause + " -> " + c.Value)
		for j, f := range c.Fields {
			if j == 0 {
				b.WriteString(" (")
			} else {
				b.WriteString(", ")
			}
			b.WriteString(f.Path + " = " + f.Value)
			if j == len(c.Fields)-1 {
				b.WriteString(")")
			}
		}
	}
	return b.String()
}
