package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
)

type automationJSON struct {
	AutomationID   string            `json:"automation_id"`
	Name           string            `json:"name"`
	Enabled        bool              `json:"enabled"`
	Events         []string          `json:"events"`
	Condition      string            `json:"condition"`
	Actions        []json.RawMessage `json:"actions"`
	Position       int               `json:"position"`
	Version        int               `json:"version"`
	DisabledReason *string           `json:"disabled_reason"`
	UpdatedAt      string            `json:"updated_at"`
}

type automationEnvelope struct {
	Automation automationJSON `json:"automation"`
}

type clauseJSON struct {
	Clause string          `json:"clause"`
	Value  json.RawMessage `json:"value"`
	Fields json.RawMessage `json:"fields"`
}

type explanationJSON struct {
	Clauses     []clauseJSON `json:"clauses"`
	MoreClauses int          `json:"more_clauses"`
	Text        string       `json:"text"`
}

type runJSON struct {
	RunID       string           `json:"run_id"`
	EventType   string           `json:"event_type"`
	TicketID    string           `json:"ticket_id"`
	Matched     bool             `json:"matched"`
	Skipped     *string          `json:"skipped"`
	Error       *string          `json:"error"`
	Explanation *explanationJSON `json:"explanation"`
	EvaluatedAt string           `json:"evaluated_at"`
	Version     int              `json:"automation_version"`
}

// draft is the editor's form: the automation as typed, and the test panel's inputs.
type draft struct {
	ID          string
	Name        string
	Enabled     bool
	Events      []string
	Condition   string
	ActionsJSON string
	Position    string
	Version     int

	TestTicketID string
	TestTicket   string
	TestEvent    string
	TestChanges  string
	Days         string
}

// Editor limits: what a form may carry before the API sees it.
const (
	maxConditionLen = 2000
	maxActionsJSON  = 64 << 10
	maxTicketJSON   = 16 << 10
)

var eventTypes = []string{"ticket.created", "ticket.updated", "message.created"}

type fieldError struct {
	Param   string
	Message string
	Line    *int
	Column  *int
	Source  string // the text the position is in, to point at it
}

type editorView struct {
	D         draft
	New       bool
	Errors    []fieldError
	Notice    string
	Env       []envField
	Events    []string
	Runs      []runJSON
	RunsNext  string
	Test      *testView
	Backtest  *backtestView
	Validated bool
}

func parseDraft(c *fiber.Ctx) draft {
	d := draft{Name: strings.TrimSpace(c.FormValue("name")), Enabled: c.FormValue("enabled") == "on", Condition: c.FormValue("condition"),
		ActionsJSON: c.FormValue("actions"), Position: strings.TrimSpace(c.FormValue("position")),
		TestTicketID: strings.TrimSpace(c.FormValue("test_ticket_id")), TestTicket: c.FormValue("test_ticket"),
		TestEvent: c.FormValue("test_event"), TestChanges: c.FormValue("test_changes"), Days: c.FormValue("days")}
	for _, e := range c.Request().PostArgs().PeekMulti("events") {
		if contains(eventTypes, string(e)) && !contains(d.Events, string(e)) {
			d.Events = append(d.Events, string(e))
		}
	}
	return d
}

// actions decodes the actions field; a syntax error is reported at its line and column.
func (d *draft) actions() ([]json.RawMessage, *fieldError) {
	if len(d.ActionsJSON) > maxActionsJSON {
		return nil, &fieldError{Param: "actions", Message: "The actions are longer than 64 KiB."}
	}
	var acts []json.RawMessage
	if err := json.Unmarshal([]byte(d.ActionsJSON), &acts); err != nil {
		fe := &fieldError{Param: "actions", Message: "The actions must be a JSON array of action objects: " + err.Error(), Source: d.ActionsJSON}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := position(d.ActionsJSON, int(se.Offset))
			fe.Line, fe.Column = &line, &col
		}
		return nil, fe
	}
	return acts, nil
}

// position turns a byte offset into a 1-based line and column.
func position(s string, offset int) (line, col int) {
	offset = min(max(offset, 0), len(s))
	before := s[:offset]
	line = strings.Count(before, "\n") + 1
	col = offset - strings.LastIndex(before, "\n")
	return line, max(col-1, 1)
}

func (d *draft) body(withPosition bool) (map[string]any, []fieldError) {
	var errs []fieldError
	body := map[string]any{"name": d.Name, "enabled": d.Enabled, "events": d.Events, "condition": d.Condition}
	if d.Events == nil {
		body["events"] = []string{}
	}
	acts, fe := d.actions()
	if fe != nil {
		errs = append(errs, *fe)
	}
	body["actions"] = acts
	if withPosition && d.Position != "" {
		n, err := strconv.Atoi(d.Position)
		if err != nil {
			errs = append(errs, fieldError{Param: "position", Message: "The position must be a whole number."})
		}
		body["position"] = n
	}
	return body, errs
}

func (cn *Console) editor(c *fiber.Ctx, s *session, status int, v *editorView) error {
	v.Env, v.Events = envFields(), eventTypes
	title := "New automation"
	if !v.New {
		title = "Automation: " + v.D.Name
	}
	return cn.render(c, s, status, "automation", title, v)
}

// apiFieldError shows an API refusal beside the field it names.
func apiFieldError(ae *APIError, d *draft) fieldError {
	fe := fieldError{Param: ae.Param, Message: ae.Message}
	if m := positionIn(ae.Message); m != nil {
		fe.Line, fe.Column = &m[0], &m[1]
		if ae.Param == "condition" {
			fe.Source = d.Condition
		}
	}
	return fe
}

func positionIn(msg string) []int {
	i := strings.Index(msg, "line ")
	if i < 0 {
		return nil
	}
	var line, col int
	rest := msg[i:]
	if _, err := fmt.Sscanf(rest, "line %d, column %d", &line, &col); err != nil {
		return nil
	}
	return []int{line, col}
}

type automationsView struct {
	Items  []automationRow
	Next   string
	Notice string
}

type automationRow struct {
	automationJSON
	Up, Down string // the neighbours a move swaps with
}

// automationsPage lists the automations in evaluation order, 100 a page.
func (cn *Console) automationsPage(c *fiber.Ctx, s *session) error {
	var p page[automationJSON]
	if err := cn.call(c, s, http.MethodGet, "/api/v1/admin/automations"+query("limit", "100", "page_token", pageToken(c)), nil, &p); err != nil {
		return err
	}
	v := automationsView{Next: nextQuery(c, p.NextPageToken), Notice: map[string]string{"moved": "Moved.", "enabled": "Enabled.", "disabled": "Disabled."}[c.Query("done")]}
	for i, a := range p.Items {
		r := automationRow{automationJSON: a}
		if i > 0 {
			r.Up = p.Items[i-1].AutomationID
		}
		if i+1 < len(p.Items) {
			r.Down = p.Items[i+1].AutomationID
		}
		v.Items = append(v.Items, r)
	}
	return cn.render(c, s, http.StatusOK, "automations", "Automations", v)
}

const exampleActions = `[
  {
    "type": "custom_http",
    "method": "POST",
    "url": "/hooks/escalate",
    "body_json": "{\"ticket\": \"{{ ticket.ticket_id }}\", \"priority\": \"{{ ticket.priority }}\"}"
  },
  {"type": "set_fields", "add_tags": ["escalated"]}
]`

func (cn *Console) newAutomationPage(c *fiber.Ctx, s *session) error {
	return cn.editor(c, s, http.StatusOK, &editorView{New: true, D: draft{Enabled: true, Events: []string{"ticket.updated"},
		Condition: `ticket.priority == "urgent"`, ActionsJSON: exampleActions, TestEvent: "ticket.updated", Days: "7"}})
}

func (cn *Console) createAutomation(c *fiber.Ctx, s *session) error {
	d := parseDraft(c)
	body, errs := d.body(true)
	if errs != nil {
		return cn.editor(c, s, http.StatusBadRequest, &editorView{New: true, D: d, Errors: errs})
	}
	var env automationEnvelope
	err := cn.callWith(c, s.key, http.MethodPost, "/api/v1/admin/automations", body, &env, idempotencyKey(c))
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		return cn.editor(c, s, http.StatusBadRequest, &editorView{New: true, D: d, Errors: []fieldError{apiFieldError(ae, &d)}})
	}
	if err != nil {
		return err
	}
	return c.Redirect(Prefix+"/automations/"+env.Automation.AutomationID+"?done=created", fiber.StatusSeeOther)
}

func (cn *Console) automationParam(c *fiber.Ctx, s *session, id string) (automationJSON, error) {
	if !domain.ValidID(domain.PrefixAutomation, id) {
		return automationJSON{}, &APIError{Status: http.StatusNotFound, Message: "There is no such automation."}
	}
	var env automationEnvelope
	err := cn.call(c, s, http.MethodGet, "/api/v1/admin/automations/"+id, nil, &env)
	return env.Automation, err
}

func draftOf(a automationJSON) draft {
	var acts bytes.Buffer
	raw, _ := json.Marshal(a.Actions)
	_ = json.Indent(&acts, raw, "", "  ")
	return draft{ID: a.AutomationID, Name: a.Name, Enabled: a.Enabled, Events: a.Events, Condition: a.Condition,
		ActionsJSON: acts.String(), Position: strconv.Itoa(a.Position), Version: a.Version, TestEvent: "ticket.updated", Days: "7"}
}

// automationPage is the editor of a saved automation with its run history.
func (cn *Console) automationPage(c *fiber.Ctx, s *session) error {
	a, err := cn.automationParam(c, s, c.Params("automation_id"))
	if err != nil {
		return err
	}
	v := &editorView{D: draftOf(a), Notice: map[string]string{"created": "Created.", "saved": "Saved."}[c.Query("done")]}
	if err := cn.loadRuns(c, s, v); err != nil {
		return err
	}
	return cn.editor(c, s, http.StatusOK, v)
}

func (cn *Console) loadRuns(c *fiber.Ctx, s *session, v *editorView) error {
	var runs page[runJSON]
	if err := cn.call(c, s, http.MethodGet, "/api/v1/admin/automations/"+v.D.ID+"/runs"+query("limit", "20", "page_token", pageToken(c)), nil, &runs); err != nil {
		return err
	}
	v.Runs, v.RunsNext = runs.Items, nextQuery(c, runs.NextPageToken)
	return nil
}

func (cn *Console) updateAutomation(c *fiber.Ctx, s *session) error {
	a, err := cn.automationParam(c, s, c.Params("automation_id"))
	if err != nil {
		return err
	}
	d := parseDraft(c)
	d.ID, d.Version = a.AutomationID, a.Version
	body, errs := d.body(true)
	if errs == nil {
		err = cn.call(c, s, http.MethodPatch, "/api/v1/admin/automations/"+a.AutomationID, body, nil)
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
			errs = []fieldError{apiFieldError(ae, &d)}
		} else if err != nil {
			return err
		}
	}
	if errs != nil {
		v := &editorView{D: d, Errors: errs}
		if err := cn.loadRuns(c, s, v); err != nil {
			return err
		}
		return cn.editor(c, s, http.StatusBadRequest, v)
	}
	return c.Redirect(Prefix+"/automations/"+a.AutomationID+"?done=saved", fiber.StatusSeeOther)
}

// moveAutomation swaps an automation's place with its neighbour in evaluation order.
func (cn *Console) moveAutomation(c *fiber.Ctx, s *session) error {
	a, err := cn.automationParam(c, s, c.Params("automation_id"))
	if err != nil {
		return err
	}
	b, err := cn.automationParam(c, s, c.FormValue("neighbour"))
	if err != nil {
		return err
	}
	pa, pb := b.Position, a.Position
	if pa == pb { // equal positions are ordered by id; separate them
		if b.AutomationID < a.AutomationID {
			pa, pb = b.Position, b.Position+1
		} else {
			pa, pb = b.Position+1, b.Position
		}
	}
	if err := cn.call(c, s, http.MethodPatch, "/api/v1/admin/automations/"+a.AutomationID, map[string]any{"position": pa}, nil); err != nil {
		return err
	}
	if err := cn.call(c, s, http.MethodPatch, "/api/v1/admin/automations/"+b.AutomationID, map[string]any{"position": pb}, nil); err != nil {
		return err
	}
	return c.Redirect(Prefix+"/automations?done=moved", fiber.StatusSeeOther)
}

// toggleAutomation enables or disables an automation.
func (cn *Console) toggleAutomation(c *fiber.Ctx, s *session) error {
	id := c.Params("automation_id")
	if !domain.ValidID(domain.PrefixAutomation, id) {
		return &APIError{Status: http.StatusNotFound, Message: "There is no such automation."}
	}
	on := c.FormValue("enabled") == "true"
	if err := cn.call(c, s, http.MethodPatch, "/api/v1/admin/automations/"+id, map[string]any{"enabled": on}, nil); err != nil {
		return err
	}
	done := "disabled"
	if on {
		done = "enabled"
	}
	return c.Redirect(Prefix+"/automations?done="+done, fiber.StatusSeeOther)
}
