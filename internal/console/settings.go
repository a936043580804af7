package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
)

type settingsJSON struct {
	Name           string   `json:"name"`
	ActionsBaseURL *string  `json:"actions_base_url"`
	AllowedHosts   []string `json:"allowed_hosts"`
	ActionDefaults struct {
		TimeoutMS            *int `json:"timeout_ms"`
		MaxAttempts          *int `json:"max_attempts"`
		EffectiveTimeoutMS   int  `json:"effective_timeout_ms"`
		EffectiveMaxAttempts int  `json:"effective_max_attempts"`
	} `json:"action_defaults"`
	RateLimits struct {
		KeyRPS             *int `json:"key_rps"`
		TenantRPS          *int `json:"tenant_rps"`
		EffectiveKeyRPS    int  `json:"effective_key_rps"`
		EffectiveTenantRPS int  `json:"effective_tenant_rps"`
	} `json:"rate_limits"`
	SigningSecret struct {
		RotatedAt          *string `json:"rotated_at"`
		PreviousValidUntil *string `json:"previous_valid_until"`
	} `json:"signing_secret"`
	UpdatedAt string `json:"updated_at"`
}

type settingsForm struct {
	BaseURL, Hosts, TimeoutMS, MaxAttempts, KeyRPS, TenantRPS string
}

type settingsView struct {
	S      settingsJSON
	F      settingsForm
	Error  string
	Notice string
	Secret string // a new signing secret, shown once
}

func formOf(s settingsJSON) settingsForm {
	num := func(p *int) string {
		if p == nil {
			return ""
		}
		return strconv.Itoa(*p)
	}
	return settingsForm{BaseURL: derefOr(s.ActionsBaseURL, ""), Hosts: strings.Join(s.AllowedHosts, "\n"),
		TimeoutMS: num(s.ActionDefaults.TimeoutMS), MaxAttempts: num(s.ActionDefaults.MaxAttempts),
		KeyRPS: num(s.RateLimits.KeyRPS), TenantRPS: num(s.RateLimits.TenantRPS)}
}

func (cn *Console) loadSettings(c *fiber.Ctx, s *session) (settingsJSON, error) {
	var env struct {
		Settings settingsJSON `json:"settings"`
	}
	err := cn.call(c, s, http.MethodGet, "/api/v1/admin/settings", nil, &env)
	return env.Settings, err
}

func (cn *Console) settingsPage(c *fiber.Ctx, s *session) error {
	st, err := cn.loadSettings(c, s)
	if err != nil {
		return err
	}
	v := settingsView{S: st, F: formOf(st)}
	if c.Query("done") == "saved" {
		v.Notice = "Saved."
	}
	return cn.render(c, s, http.StatusOK, "settings", "Settings", v)
}

const maxHosts = 100

// updateSettings saves the form; an empty number resets it to Threada's default.
func (cn *Console) updateSettings(c *fiber.Ctx, s *session) error {
	f := settingsForm{BaseURL: strings.TrimSpace(c.FormValue("actions_base_url")), Hosts: c.FormValue("allowed_hosts"),
		TimeoutMS: strings.TrimSpace(c.FormValue("timeout_ms")), MaxAttempts: strings.TrimSpace(c.FormValue("max_attempts")),
		KeyRPS: strings.TrimSpace(c.FormValue("key_rps")), TenantRPS: strings.TrimSpace(c.FormValue("tenant_rps"))}
	msg := ""
	body := map[string]any{}
	if f.BaseURL == "" {
		body["actions_base_url"] = nil
	} else {
		body["actions_base_url"] = f.BaseURL
	}
	hosts := []string{}
	for _, h := range strings.FieldsFunc(f.Hosts, func(r rune) bool { return r == '\n' || r == ',' || r == ' ' || r == '\r' }) {
		if len(hosts) > maxHosts {
			msg = "At most 100 allowed hosts."
			break
		}
		hosts = append(hosts, h)
	}
	body["allowed_hosts"] = hosts
	nums := map[string]any{}
	for name, v := range map[string]string{"timeout_ms": f.TimeoutMS, "max_attempts": f.MaxAttempts, "key_rps": f.KeyRPS, "tenant_rps": f.TenantRPS} {
		if v == "" {
			nums[name] = nil
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			msg = "`" + name + "` must be a whole number, or empty for the default."
		}
		nums[name] = n
	}
	body["action_defaults"] = map[string]any{"timeout_ms": nums["timeout_ms"], "max_attempts": nums["max_attempts"]}
	body["rate_limits"] = map[string]any{"key_rps": nums["key_rps"], "tenant_rps": nums["tenant_rps"]}
	if msg == "" {
		err := cn.call(c, s, http.MethodPatch, "/api/v1/admin/settings", body, nil)
		var ae *APIError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
			msg = ae.Message
		case err != nil:
			return err
		default:
			return c.Redirect(Prefix+"/settings?done=saved", fiber.StatusSeeOther)
		}
	}
	st, err := cn.loadSettings(c, s)
	if err != nil {
		return err
	}
	return cn.render(c, s, http.StatusBadRequest, "settings", "Settings", settingsView{S: st, F: f, Error: msg})
}

func (cn *Console) rotateSecretPage(c *fiber.Ctx, s *session) error {
	return cn.render(c, s, http.StatusOK, "secret-rotate", "Rotate the signing secret", nil)
}

// rotateSecret makes a new webhook signing secret and shows it once.
func (cn *Console) rotateSecret(c *fiber.Ctx, s *session) error {
	overlap, err := strconv.Atoi(c.FormValue("overlap_seconds"))
	if err != nil || overlap < 0 || overlap > 7*86400 {
		overlap = 86400
	}
	var out struct {
		Settings      settingsJSON `json:"settings"`
		SigningSecret string       `json:"signing_secret"`
	}
	if err := cn.callWith(c, s.key, http.MethodPost, "/api/v1/admin/settings/signing-secret/rotate", map[string]any{"overlap_seconds": overlap}, &out, idempotencyKey(c)); err != nil {
		return err
	}
	v := settingsView{S: out.Settings, F: formOf(out.Settings), Secret: out.SigningSecret}
	if out.SigningSecret == "" {
		v.Notice = "This form was already sent: the secret was rotated then, and shown that once."
	}
	return cn.render(c, s, http.StatusOK, "settings", "Settings", v)
}

type auditJSON struct {
	AuditEventID string          `json:"audit_event_id"`
	Actor        string          `json:"actor"`
	Action       string          `json:"action"`
	Target       string          `json:"target"`
	RequestID    string          `json:"request_id"`
	ClientIP     string          `json:"client_ip"`
	Before       json.RawMessage `json:"before"`
	After        json.RawMessage `json:"after"`
	OccurredAt   string          `json:"occurred_at"`
}

type auditView struct {
	Actor, Action, Target, Since, Until string
	Items                               []auditJSON
	Next                                string
	Error                               string
}

// auditPage is the audit log, newest first, with its filters.
func (cn *Console) auditPage(c *fiber.Ctx, s *session) error {
	get := func(name string) string {
		v := strings.TrimSpace(c.Query(name))
		if len(v) > 200 {
			return v[:200]
		}
		return v
	}
	v := auditView{Actor: get("actor"), Action: get("action"), Target: get("target"), Since: get("since"), Until: get("until")}
	var p page[auditJSON]
	err := cn.call(c, s, http.MethodGet, "/api/v1/admin/audit-events"+query("limit", "50", "actor", v.Actor, "action", v.Action,
		"target", v.Target, "since", v.Since, "until", v.Until, "page_token", pageToken(c)), nil, &p)
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
	return cn.render(c, s, status, "audit", "Audit log", v)
}
