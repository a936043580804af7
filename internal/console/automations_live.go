package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/rules"
)

type validationJSON struct {
	Valid  bool `json:"valid"`
	Errors []struct {
		Param   string `json:"param"`
		Message string `json:"message"`
		Line    *int   `json:"line"`
		Column  *int   `json:"column"`
	} `json:"errors"`
}

type validationView struct {
	Valid  bool
	Errors []fieldError
	OK     string // what to say when valid; the automation editor's message by default
}

// validateDraft checks the editor's condition and actions with the API as the admin types
// (htmx, after a pause) and answers the list of problems, each at its line and column.
func (cn *Console) validateDraft(c *fiber.Ctx, s *session) error {
	d := parseDraft(c)
	v := validationView{}
	body := map[string]any{}
	if len(d.Condition) > maxConditionLen {
		v.Errors = append(v.Errors, fieldError{Param: "condition", Message: "The condition is longer than 2,000 characters."})
	} else if strings.TrimSpace(d.Condition) != "" {
		body["condition"] = d.Condition
	} else {
		v.Errors = append(v.Errors, fieldError{Param: "condition", Message: "Write a condition; `true` matches every event."})
	}
	if acts, fe := d.actions(); fe != nil {
		v.Errors = append(v.Errors, *fe)
	} else {
		body["actions"] = acts
	}
	if len(body) > 0 {
		var out validationJSON
		err := cn.call(c, s, http.MethodPost, "/api/v1/admin/automations/validate", body, &out)
		var ae *APIError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
			v.Errors = append(v.Errors, fieldError{Param: ae.Param, Message: ae.Message})
		case err != nil:
			return err
		}
		for _, e := range out.Errors {
			fe := fieldError{Param: e.Param, Message: e.Message, Line: e.Line, Column: e.Column}
			if e.Param == "condition" {
				fe.Source = d.Condition
			}
			v.Errors = append(v.Errors, fe)
		}
	}
	v.Valid = len(v.Errors) == 0
	return cn.fragment(c, http.StatusOK, "validation", v)
}

type testView struct {
	Matched     bool
	Error       string
	Explanation *explanationJSON
	Actions     []dryRunActionJSON
	Refused     string
}

type dryRunActionJSON struct {
	Type    string `json:"type"`
	Request *struct {
		Method         string            `json:"method"`
		URL            string            `json:"url"`
		Headers        map[string]string `json:"headers"`
		Body           string            `json:"body"`
		TimeoutMS      int               `json:"timeout_ms"`
		MaxAttempts    int               `json:"max_attempts"`
		ThreadaHeaders []string          `json:"threada_headers"`
	} `json:"request"`
	Status     *string  `json:"status"`
	Priority   *string  `json:"priority"`
	AddTags    []string `json:"add_tags"`
	RemoveTags []string `json:"remove_tags"`
	TagsAfter  []string `json:"tags_after"`
	Content    string   `json:"content"`
	Error      string   `json:"error"`
}

// testDraft evaluates the editor's draft against a stored or pasted ticket with the API's
// dry run: the per-clause explanation and each action as it would run, the exact HTTP
// request included. Nothing is changed or sent.
func (cn *Console) testDraft(c *fiber.Ctx, s *session) error {
	d := parseDraft(c)
	tv := &testView{}
	body := map[string]any{"condition": d.Condition}
	if contains(eventTypes, d.TestEvent) {
		body["event"] = map[string]any{"type": d.TestEvent}
	}
	acts, fe := d.actions()
	switch {
	case fe != nil:
		tv.Refused = fe.Message
	case len(acts) > 0:
		body["actions"] = acts
	}
	switch {
	case d.TestTicketID != "":
		body["ticket_id"] = d.TestTicketID
	case strings.TrimSpace(d.TestTicket) != "":
		var t map[string]any
		if len(d.TestTicket) > maxTicketJSON || json.Unmarshal([]byte(d.TestTicket), &t) != nil {
			tv.Refused = "The pasted ticket must be a JSON object (at most 16 KiB), e.g. {\"subject\": \"Refund\", \"priority\": \"urgent\", \"tags\": [\"vip\"]}."
		}
		body["ticket"] = t
	default:
		tv.Refused = "Give a ticket id, or paste a ticket as JSON."
	}
	if strings.TrimSpace(d.TestChanges) != "" {
		var ch map[string]any
		if len(d.TestChanges) > maxTicketJSON || json.Unmarshal([]byte(d.TestChanges), &ch) != nil {
			tv.Refused = "The changes must be a JSON object such as {\"priority\": {\"from\": \"normal\", \"to\": \"urgent\"}}."
		}
		body["changes"] = ch
	}
	if tv.Refused == "" {
		var out struct {
			Matched     bool               `json:"matched"`
			Actions     []dryRunActionJSON `json:"actions"`
			Error       *string            `json:"error"`
			Explanation *explanationJSON   `json:"explanation"`
		}
		err := cn.call(c, s, http.MethodPost, "/api/v1/admin/automations/test", body, &out)
		var ae *APIError
		switch {
		case errors.As(err, &ae) && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusNotFound):
			tv.Refused = ae.Message
		case err != nil:
			return err
		default:
			tv.Matched, tv.Actions, tv.Explanation, tv.Error = out.Matched, out.Actions, out.Explanation, derefOr(out.Error, "")
		}
	}
	if isHTMX(c) {
		return cn.fragment(c, http.StatusOK, "test-result", tv)
	}
	return cn.editorWith(c, s, d, &editorView{Test: tv})
}

// editorWith re-renders the editor (for a browser without JavaScript) with a result.
func (cn *Console) editorWith(c *fiber.Ctx, s *session, d draft, v *editorView) error {
	v.D, v.New = d, d.ID == ""
	if id := c.FormValue("automation_id"); id != "" && len(id) < 100 {
		v.D.ID, v.New = id, false
	}
	return cn.editor(c, s, http.StatusOK, v)
}

type backtestView struct {
	Evaluated, Matched, Errors int
	Complete                   bool
	Since                      string
	Samples                    []struct {
		EventID     string             `json:"event_id"`
		EventType   string             `json:"event_type"`
		TicketID    string             `json:"ticket_id"`
		OccurredAt  string             `json:"occurred_at"`
		Explanation *explanationJSON   `json:"explanation"`
		Actions     []dryRunActionJSON `json:"actions"`
	}
	Refused string
}

// backtestDraft runs the draft over the tenant's past events with the API's backtest.
func (cn *Console) backtestDraft(c *fiber.Ctx, s *session) error {
	d := parseDraft(c)
	bv := &backtestView{}
	days, err := strconv.Atoi(d.Days)
	if err != nil || days < 1 || days > 30 {
		days = 7
	}
	acts, fe := d.actions()
	if fe != nil {
		bv.Refused = fe.Message
	} else {
		events := d.Events
		if events == nil {
			events = []string{}
		}
		var out struct {
			Since     string `json:"since"`
			Evaluated int    `json:"evaluated"`
			Matched   int    `json:"matched"`
			Errors    int    `json:"errors"`
			Complete  bool   `json:"complete"`
			Samples   json.RawMessage
		}
		err := cn.call(c, s, http.MethodPost, "/api/v1/admin/automations/backtest",
			map[string]any{"condition": d.Condition, "events": events, "actions": acts, "days": days}, &out)
		var ae *APIError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
			bv.Refused = ae.Message
		case err != nil:
			return err
		default:
			bv.Since, bv.Evaluated, bv.Matched, bv.Errors, bv.Complete = out.Since, out.Evaluated, out.Matched, out.Errors, out.Complete
			_ = json.Unmarshal(out.Samples, &bv.Samples)
		}
	}
	if isHTMX(c) {
		return cn.fragment(c, http.StatusOK, "backtest-result", bv)
	}
	return cn.editorWith(c, s, d, &editorView{Backtest: bv})
}

// envField is one name a condition or template can read, listed beside the editor.
type envField struct {
	Name, Type string
}

// envFields lists the rules environment from its Go type, so the list cannot drift from
// what conditions really see.
func envFields() []envField {
	var out []envField
	var walk func(prefix string, t reflect.Type, depth int)
	walk = func(prefix string, t reflect.Type, depth int) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("expr")
			if !f.IsExported() || (tag == "" && !f.Anonymous) {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if f.Anonymous || tag == "" {
				continue
			}
			name := prefix + tag
			switch {
			case ft.Kind() == reflect.Func:
				var args []string
				for j := 0; j < ft.NumIn(); j++ {
					args = append(args, ft.In(j).String())
				}
				out = append(out, envField{Name: name + "(" + strings.Join(args, ", ") + ")", Type: "helper"})
			case ft.Kind() == reflect.Struct && ft.String() != "time.Time" && depth < 2:
				walk(name+".", ft, depth+1)
			case ft.Kind() == reflect.Map:
				out = append(out, envField{Name: name + "[field].from / .to", Type: "change"})
			default:
				out = append(out, envField{Name: name, Type: typeName(ft)})
			}
		}
	}
	walk("", reflect.TypeOf(rules.Env{}), 0)
	return out
}

func typeName(t reflect.Type) string {
	switch {
	case t.String() == "time.Time":
		return "time"
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem())
	case t.Kind() == reflect.Interface:
		return "any"
	}
	return t.Kind().String()
}
