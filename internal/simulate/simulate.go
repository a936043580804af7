// Package simulate answers what a rule would do, without doing it: the dry run of a rule
// against one event, the backtest of a draft automation against the tenant's past events,
// the preview of a draft SLA policy against its tickets, and the checks a rule passes
// before it is saved. Each evaluates through rules.Evaluate, as the engine does; nothing
// is written or started. The API's handlers decode a request, call one of these and encode
// the result.
package simulate

import (
	"context"

	"github.com/threada/threada/internal/actions"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/rules"
)

// Action is an action as it would run: for custom_http the exact request.
type Action struct {
	Type       string   `json:"type"`
	Request    *Request `json:"request,omitempty"`
	Status     *string  `json:"status,omitempty"`
	Priority   *string  `json:"priority,omitempty"`
	AddTags    []string `json:"add_tags,omitempty"`
	RemoveTags []string `json:"remove_tags,omitempty"`
	TagsAfter  []string `json:"tags_after,omitempty"`
	Content    string   `json:"content,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// Request is the request every attempt of a custom_http action sends; the headers that
// depend on the attempt are listed by name.
type Request struct {
	Method         string            `json:"method"`
	URL            string            `json:"url"`
	Headers        map[string]string `json:"headers"`
	Body           string            `json:"body"`
	TimeoutMS      int               `json:"timeout_ms"`
	MaxAttempts    int               `json:"max_attempts"`
	ThreadaHeaders []string          `json:"threada_headers"`
}

// actionsOf shows a match's rendered actions as they would run for the tenant on the
// ticket.
func actionsOf(rendered []rules.Rendered, tenant *domain.Tenant, t domain.Ticket) []Action {
	out := make([]Action, 0, len(rendered))
	for _, r := range rendered {
		out = append(out, actionOf(r, tenant, t))
	}
	return out
}

func actionOf(r rules.Rendered, tenant *domain.Tenant, t domain.Ticket) Action {
	v := Action{Type: r.Spec.Type}
	if r.Err != nil {
		v.Error = r.Err.Error()
		return v
	}
	switch r.Spec.Type {
	case domain.AutomationCustomHTTP:
		call, err := r.HTTP.Validate(tenant.ActionSettings())
		if err != nil {
			v.Error = err.Error()
			return v
		}
		// The request every attempt sends, built by the code that sends it.
		req, err := actions.NewRequest(context.Background(), call)
		if err != nil {
			v.Error = err.Error()
			return v
		}
		headers := make(map[string]string, len(req.Header))
		for k := range req.Header {
			headers[k] = req.Header.Get(k)
		}
		v.Request = &Request{Method: req.Method, URL: call.URL, Headers: headers, Body: call.BodyJSON,
			TimeoutMS: call.TimeoutMS, MaxAttempts: call.MaxAttempts, ThreadaHeaders: actions.AttemptHeaders}
	case domain.AutomationSetFields:
		v.Status, v.Priority, v.AddTags, v.RemoveTags = r.Spec.Status, r.Spec.Priority, r.Spec.AddTags, r.Spec.RemoveTags
		v.TagsAfter = domain.TicketUpdate{AddTags: r.Spec.AddTags, RemoveTags: r.Spec.RemoveTags}.Apply(t).Tags
	case domain.AutomationAddNote:
		v.Content = r.Content
	}
	return v
}
