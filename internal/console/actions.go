package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
)

type actionJSON struct {
	ActionID    string `json:"action_id"`
	TicketID    string `json:"ticket_id"`
	Status      string `json:"status"`
	RequestedBy string `json:"requested_by"`
	Payload     struct {
		Method string `json:"method"`
		URL    string `json:"url"`
	} `json:"payload"`
	PayloadRaw     json.RawMessage `json:"-"`
	CreatedAt      string          `json:"created_at"`
	CompletedAt    *string         `json:"completed_at"`
	Attempts       int             `json:"attempts"`
	NextAttemptAt  *string         `json:"next_attempt_at"`
	LastError      *string         `json:"last_error"`
	CanceledReason *string         `json:"canceled_reason"`
	ReplayOf       *string         `json:"replay_of"`
	Response       *responseJSON   `json:"response"`
	TemporalUIURL  string          `json:"temporal_ui_url"`
}

type responseJSON struct {
	StatusCode    int               `json:"status_code"`
	Headers       map[string]string `json:"headers"`
	Body          string            `json:"body"`
	BodyTruncated bool              `json:"body_truncated"`
	DurationMS    int64             `json:"duration_ms"`
}

type attemptJSON struct {
	Attempt       int           `json:"attempt"`
	StartedAt     string        `json:"started_at"`
	CompletedAt   *string       `json:"completed_at"`
	DurationMS    *int64        `json:"duration_ms"`
	Outcome       *string       `json:"outcome"`
	StatusCode    *int          `json:"status_code"`
	Error         *string       `json:"error"`
	Response      *responseJSON `json:"response"`
	NextAttemptAt *string       `json:"next_attempt_at"`
}

type actionFilter struct {
	Status, TicketID, AutomationID, Host string
}

type actionsView struct {
	F        actionFilter
	Items    []actionJSON
	Next     string
	Statuses []string
	Error    string
}

func filterOf(c *fiber.Ctx) actionFilter {
	get := func(name string) string {
		v := strings.TrimSpace(c.Query(name))
		if len(v) > 253 {
			return v[:253]
		}
		return v
	}
	return actionFilter{Status: get("status"), TicketID: get("ticket_id"), AutomationID: get("automation_id"), Host: get("host")}
}

// actionsPage lists action runs, newest first, filtered.
func (cn *Console) actionsPage(c *fiber.Ctx, s *session) error {
	f := filterOf(c)
	v := actionsView{F: f, Statuses: domain.ActionStatuses}
	var p page[actionJSON]
	err := cn.call(c, s, http.MethodGet, "/api/v1/admin/actions"+query("limit", "50", "status", f.Status, "ticket_id", f.TicketID,
		"automation_id", f.AutomationID, "host", f.Host, "page_token", pageToken(c)), nil, &p)
	var ae *APIError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
		v.Error = ae.Message
	case err != nil:
		return err
	}
	v.Items, v.Next = p.Items, nextQuery(c, p.NextPageToken)
	status := http.StatusOK
	if v.Error != "" {
		status = http.StatusBadRequest
	}
	return cn.render(c, s, status, "actions", "Action runs", v)
}

type actionView struct {
	A         actionJSON
	Payload   string
	Attempts  []attemptJSON
	CanReplay bool
	CanRead   bool
	Notice    string
}

// actionPage shows one run: its status, payload, response, attempt log, a link to its
// workflow in the Temporal UI and the replay button.
func (cn *Console) actionPage(c *fiber.Ctx, s *session) error {
	id := c.Params("action_id")
	if !domain.ValidID(domain.PrefixAction, id) {
		return &APIError{Status: http.StatusNotFound, Message: "There is no such action."}
	}
	v := actionView{CanReplay: s.HasScope(domain.ScopeSupportActions),
		CanRead: s.HasScope(domain.ScopeSupportActions) || s.HasScope(domain.ScopeSupportRead)}
	if !v.CanRead {
		return cn.render(c, s, http.StatusForbidden, "error", "No access", errorView{
			Message: "Reading a run's detail needs the support.read or support.actions scope, which this key lacks."})
	}
	var env struct {
		Action json.RawMessage `json:"action"`
	}
	if err := cn.call(c, s, http.MethodGet, "/api/v1/public/actions/"+id, nil, &env); err != nil {
		return err
	}
	if err := json.Unmarshal(env.Action, &v.A); err != nil {
		return err
	}
	var raw struct {
		Payload json.RawMessage `json:"payload"`
	}
	_ = json.Unmarshal(env.Action, &raw)
	v.Payload = prettyJSON(raw.Payload)
	var attempts page[attemptJSON]
	if err := cn.call(c, s, http.MethodGet, "/api/v1/public/actions/"+id+"/attempts?limit=100", nil, &attempts); err != nil {
		return err
	}
	v.Attempts = attempts.Items
	if c.Query("done") == "replayed" {
		v.Notice = "This is the replay; it runs now."
	}
	return cn.render(c, s, http.StatusOK, "action", "Action "+id, v)
}

// replayAction runs a finished action's payload again and shows the new run.
func (cn *Console) replayAction(c *fiber.Ctx, s *session) error {
	id := c.Params("action_id")
	if !domain.ValidID(domain.PrefixAction, id) {
		return &APIError{Status: http.StatusNotFound, Message: "There is no such action."}
	}
	var env struct {
		Action actionJSON `json:"action"`
	}
	if err := cn.callWith(c, s.key, http.MethodPost, "/api/v1/public/actions/"+id+"/replay", nil, &env, idempotencyKey(c)); err != nil {
		return err
	}
	return c.Redirect(Prefix+"/actions/"+env.Action.ActionID+"?done=replayed", fiber.StatusSeeOther)
}

type replayForm struct {
	Since, Until, Status, TicketID, AutomationID, Host, Rate string
}

type replaysView struct {
	F       replayForm
	DryRun  *replayDryRun
	Error   string
	Pending string // the idempotency key for the form
}

type replayDryRun struct {
	Matched int          `json:"matched"`
	Samples []actionJSON `json:"samples"`
}

type replayJSON struct {
	ReplayID      string  `json:"replay_id"`
	Status        string  `json:"status"`
	Matched       int     `json:"matched"`
	Replayed      int     `json:"replayed"`
	Skipped       int     `json:"skipped"`
	RatePerSecond int     `json:"rate_per_second"`
	CreatedAt     string  `json:"created_at"`
	CompletedAt   *string `json:"completed_at"`
	TemporalUIURL string  `json:"temporal_ui_url"`
	Filter        struct {
		Status       *string `json:"status"`
		TicketID     *string `json:"ticket_id"`
		AutomationID *string `json:"automation_id"`
		Host         *string `json:"host"`
		Since        string  `json:"since"`
		Until        string  `json:"until"`
	} `json:"filter"`
}

const formTime = "2006-01-02T15:04"

// replaysPage is the bulk replay form: a filter, counted first (dry run), then replayed.
func (cn *Console) replaysPage(c *fiber.Ctx, s *session) error {
	now := time.Now().UTC()
	f := replayForm{Since: now.Add(-24 * time.Hour).Format(formTime), Until: now.Add(time.Minute).Format(formTime), Status: "failed", Rate: "10"}
	return cn.render(c, s, http.StatusOK, "replays", "Bulk replay", replaysView{F: f})
}

func (f replayForm) body() (map[string]any, string) {
	filter := map[string]any{}
	for name, v := range map[string]string{"since": f.Since, "until": f.Until} {
		at, err := time.Parse(formTime, v)
		if err != nil {
			return nil, "Give the window's start and end as dates and times (UTC)."
		}
		filter[name] = at.Format(time.RFC3339)
	}
	for name, v := range map[string]string{"status": f.Status, "ticket_id": f.TicketID, "automation_id": f.AutomationID, "host": f.Host} {
		if v != "" {
			filter[name] = v
		}
	}
	rate, err := strconv.Atoi(f.Rate)
	if err != nil {
		return nil, "The rate must be a whole number of replays per second."
	}
	return map[string]any{"filter": filter, "rate_per_second": rate}, ""
}

// createReplay counts what the filter matches (the "dry run" button) or starts the replay.
func (cn *Console) createReplay(c *fiber.Ctx, s *session) error {
	f := replayForm{Since: c.FormValue("since"), Until: c.FormValue("until"), Status: c.FormValue("status"),
		TicketID: strings.TrimSpace(c.FormValue("ticket_id")), AutomationID: strings.TrimSpace(c.FormValue("automation_id")),
		Host: strings.TrimSpace(c.FormValue("host")), Rate: c.FormValue("rate_per_second")}
	v := replaysView{F: f}
	body, msg := f.body()
	dry := c.FormValue("dry_run") == "true"
	if msg == "" {
		body["dry_run"] = dry
		var err error
		var ae *APIError
		if dry {
			var out replayDryRun
			err = cn.call(c, s, http.MethodPost, "/api/v1/admin/action-replays", body, &out)
			v.DryRun = &out
		} else {
			var out struct {
				Replay replayJSON `json:"replay"`
			}
			if err = cn.callWith(c, s.key, http.MethodPost, "/api/v1/admin/action-replays", body, &out, idempotencyKey(c)); err == nil {
				return c.Redirect(Prefix+"/replays/"+out.Replay.ReplayID, fiber.StatusSeeOther)
			}
		}
		switch {
		case errors.As(err, &ae) && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusConflict): // 409: too many waiting
			msg, v.DryRun = ae.Message, nil
		case err != nil:
			return err
		}
	}
	v.Error = msg
	status := http.StatusOK
	if msg != "" {
		status = http.StatusBadRequest
	}
	if isHTMX(c) {
		return cn.fragment(c, status, "dry-run-result", v)
	}
	return cn.render(c, s, status, "replays", "Bulk replay", v)
}

func (cn *Console) replayParam(c *fiber.Ctx, s *session) (replayJSON, error) {
	id := c.Params("replay_id")
	if !domain.ValidID(domain.PrefixReplayBatch, id) {
		return replayJSON{}, &APIError{Status: http.StatusNotFound, Message: "There is no such replay."}
	}
	var out struct {
		Replay replayJSON `json:"replay"`
	}
	err := cn.call(c, s, http.MethodGet, "/api/v1/admin/action-replays/"+id, nil, &out)
	return out.Replay, err
}

// replayPage shows a bulk replay's progress; htmx polls its fragment until it ends.
func (cn *Console) replayPage(c *fiber.Ctx, s *session) error {
	r, err := cn.replayParam(c, s)
	if err != nil {
		return err
	}
	if isHTMX(c) {
		return cn.fragment(c, http.StatusOK, "replay-progress", r)
	}
	return cn.render(c, s, http.StatusOK, "replay", "Bulk replay "+r.ReplayID, r)
}

func (cn *Console) cancelReplay(c *fiber.Ctx, s *session) error {
	r, err := cn.replayParam(c, s)
	if err != nil {
		return err
	}
	if err := cn.call(c, s, http.MethodPost, "/api/v1/admin/action-replays/"+r.ReplayID+"/cancel", nil, nil); err != nil {
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusConflict {
			return err
		}
	}
	return c.Redirect(Prefix+"/replays/"+r.ReplayID, fiber.StatusSeeOther)
}

type destinationJSON struct {
	Destination         string   `json:"destination"`
	State               string   `json:"state"`
	ConsecutiveFailures int      `json:"consecutive_failures"`
	OpenedAt            *string  `json:"opened_at"`
	NextProbeAt         *string  `json:"next_probe_at"`
	LastAttemptAt       string   `json:"last_attempt_at"`
	Attempts5m          int      `json:"attempts_5m"`
	SuccessRate5m       *float64 `json:"success_rate_5m"`
	P50LatencyMS5m      *float64 `json:"p50_latency_ms_5m"`
}

// destinationsPage is the health table: each destination's circuit and last 5 minutes.
func (cn *Console) destinationsPage(c *fiber.Ctx, s *session) error {
	var p page[destinationJSON]
	if err := cn.call(c, s, http.MethodGet, "/api/v1/admin/destinations"+query("limit", "100", "page_token", pageToken(c)), nil, &p); err != nil {
		return err
	}
	return cn.render(c, s, http.StatusOK, "destinations", "Destinations", p)
}
