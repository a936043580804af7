package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
)

type slaPoliciesView struct {
	Items  []slaPolicyRow
	Next   string
	Notice string
}

type slaPolicyRow struct {
	slaPolicyJSON
	Up, Down string // the neighbours a move swaps with
	Summary  []string
}

// slaSummary is a policy's targets and clock in a few words for the list.
func slaSummary(p slaPolicyJSON) []string {
	var out []string
	for _, prio := range slaPriorities {
		t := p.Targets[prio]
		if t == nil {
			continue
		}
		var parts []string
		if v := t["first_reply"]; v != nil {
			parts = append(parts, "first reply "+shortDuration(*v))
		}
		if v := t["resolution"]; v != nil {
			parts = append(parts, "resolution "+shortDuration(*v))
		}
		out = append(out, prio+": "+strings.Join(parts, ", "))
	}
	return out
}

type slaEditorView struct {
	D          slaDraft
	New        bool
	Errors     []fieldError
	Notice     string
	Priorities []string
	Metrics    []string
	Weekdays   []string
	Env        []envField
	Preview    *slaPreviewView
}

type slaPreviewView struct {
	Evaluated, Matched, Errors int
	Complete                   bool
	Samples                    []struct {
		TicketID string `json:"ticket_id"`
		Subject  string `json:"subject"`
		Priority string `json:"priority"`
		Status   string `json:"status"`
		Target   *struct {
			FirstReply *string `json:"first_reply"`
			Resolution *string `json:"resolution"`
		} `json:"target"`
	}
	Refused string
}

var slaNotices = map[string]string{"moved": "Moved.", "enabled": "Enabled.", "disabled": "Disabled.", "deleted": "Deleted: its clocks stopped.",
	"created": "Created.", "saved": "Saved: tickets' clocks take the change at their next event."}

// slaPoliciesPage lists the SLA policies in position order, 100 a page: a ticket gets the
// first enabled one whose condition holds.
func (cn *Console) slaPoliciesPage(c *fiber.Ctx, s *session) error {
	var p page[slaPolicyJSON]
	if err := cn.call(c, s, http.MethodGet, "/api/v1/admin/sla-policies"+query("limit", "100", "page_token", pageToken(c)), nil, &p); err != nil {
		return err
	}
	v := slaPoliciesView{Next: nextQuery(c, p.NextPageToken), Notice: slaNotices[c.Query("done")]}
	for i, pol := range p.Items {
		r := slaPolicyRow{slaPolicyJSON: pol, Summary: slaSummary(pol)}
		if i > 0 {
			r.Up = p.Items[i-1].SLAPolicyID
		}
		if i+1 < len(p.Items) {
			r.Down = p.Items[i+1].SLAPolicyID
		}
		v.Items = append(v.Items, r)
	}
	return cn.render(c, s, http.StatusOK, "sla-policies", "SLA policies", v)
}

func (cn *Console) slaEditor(c *fiber.Ctx, s *session, status int, v *slaEditorView) error {
	v.Priorities, v.Metrics, v.Weekdays, v.Env = slaPriorities, slaMetrics, weekdays, envFields()
	title := "New SLA policy"
	if !v.New {
		title = "SLA policy: " + v.D.Name
	}
	return cn.render(c, s, status, "sla-policy", title, v)
}

func (cn *Console) newSLAPolicyPage(c *fiber.Ctx, s *session) error {
	d := newSLADraft()
	d.Condition = `ticket.priority in ["urgent", "high"]`
	d.Targets["urgent"]["first_reply"], d.Targets["urgent"]["resolution"] = "1h", "8h"
	d.Targets["high"]["first_reply"], d.Targets["high"]["resolution"] = "4h", "24h"
	return cn.slaEditor(c, s, http.StatusOK, &slaEditorView{New: true, D: d})
}

func (cn *Console) createSLAPolicy(c *fiber.Ctx, s *session) error {
	d := parseSLADraft(c)
	body, errs := d.body()
	if errs == nil {
		var env slaPolicyEnvelope
		err := cn.callWith(c, s.key, http.MethodPost, "/api/v1/admin/sla-policies", body, &env, idempotencyKey(c))
		var ae *APIError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
			errs = []fieldError{slaFieldError(ae, &d)}
		case err != nil:
			return err
		default:
			return c.Redirect(Prefix+"/sla-policies/"+env.SLAPolicy.SLAPolicyID+"?done=created", fiber.StatusSeeOther)
		}
	}
	return cn.slaEditor(c, s, http.StatusBadRequest, &slaEditorView{New: true, D: d, Errors: errs})
}

// slaFieldError shows an API refusal beside the field it names, a condition's at its line
// and column.
func slaFieldError(ae *APIError, d *slaDraft) fieldError {
	fe := fieldError{Param: ae.Param, Message: ae.Message}
	if m := positionIn(ae.Message); m != nil && ae.Param == "condition" {
		fe.Line, fe.Column, fe.Source = &m[0], &m[1], d.Condition
	}
	return fe
}

func (cn *Console) slaPolicyParam(c *fiber.Ctx, s *session, id string) (slaPolicyJSON, error) {
	if !domain.ValidID(domain.PrefixSLAPolicy, id) {
		return slaPolicyJSON{}, &APIError{Status: http.StatusNotFound, Message: "There is no such SLA policy."}
	}
	var env slaPolicyEnvelope
	err := cn.call(c, s, http.MethodGet, "/api/v1/admin/sla-policies/"+id, nil, &env)
	return env.SLAPolicy, err
}

func (cn *Console) slaPolicyPage(c *fiber.Ctx, s *session) error {
	p, err := cn.slaPolicyParam(c, s, c.Params("sla_policy_id"))
	if err != nil {
		return err
	}
	return cn.slaEditor(c, s, http.StatusOK, &slaEditorView{D: slaDraftOf(p), Notice: slaNotices[c.Query("done")]})
}

func (cn *Console) updateSLAPolicy(c *fiber.Ctx, s *session) error {
	p, err := cn.slaPolicyParam(c, s, c.Params("sla_policy_id"))
	if err != nil {
		return err
	}
	d := parseSLADraft(c)
	d.ID, d.Version = p.SLAPolicyID, p.Version
	body, errs := d.body()
	if errs == nil {
		err := cn.call(c, s, http.MethodPatch, "/api/v1/admin/sla-policies/"+p.SLAPolicyID, body, nil)
		var ae *APIError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
			errs = []fieldError{slaFieldError(ae, &d)}
		case err != nil:
			return err
		default:
			return c.Redirect(Prefix+"/sla-policies/"+p.SLAPolicyID+"?done=saved", fiber.StatusSeeOther)
		}
	}
	return cn.slaEditor(c, s, http.StatusBadRequest, &slaEditorView{D: d, Errors: errs})
}

// moveSLAPolicy swaps a policy's place with its neighbour's.
func (cn *Console) moveSLAPolicy(c *fiber.Ctx, s *session) error {
	a, err := cn.slaPolicyParam(c, s, c.Params("sla_policy_id"))
	if err != nil {
		return err
	}
	b, err := cn.slaPolicyParam(c, s, c.FormValue("neighbour"))
	if err != nil {
		return err
	}
	pa, pb := b.Position, a.Position
	if pa == pb { // equal positions are ordered by id; separate them
		if b.SLAPolicyID < a.SLAPolicyID {
			pa, pb = b.Position, b.Position+1
		} else {
			pa, pb = b.Position+1, b.Position
		}
	}
	for _, m := range []struct {
		id  string
		pos int
	}{{a.SLAPolicyID, pa}, {b.SLAPolicyID, pb}} {
		if err := cn.call(c, s, http.MethodPatch, "/api/v1/admin/sla-policies/"+m.id, map[string]any{"position": m.pos}, nil); err != nil {
			return err
		}
	}
	return c.Redirect(Prefix+"/sla-policies?done=moved", fiber.StatusSeeOther)
}

// toggleSLAPolicy enables or disables a policy; disabling stops its clocks at once.
func (cn *Console) toggleSLAPolicy(c *fiber.Ctx, s *session) error {
	id := c.Params("sla_policy_id")
	if !domain.ValidID(domain.PrefixSLAPolicy, id) {
		return &APIError{Status: http.StatusNotFound, Message: "There is no such SLA policy."}
	}
	on := c.FormValue("enabled") == "true"
	if err := cn.call(c, s, http.MethodPatch, "/api/v1/admin/sla-policies/"+id, map[string]any{"enabled": on}, nil); err != nil {
		return err
	}
	done := "disabled"
	if on {
		done = "enabled"
	}
	return c.Redirect(Prefix+"/sla-policies?done="+done, fiber.StatusSeeOther)
}

// deleteSLAPolicyPage asks to confirm a deletion.
func (cn *Console) deleteSLAPolicyPage(c *fiber.Ctx, s *session) error {
	p, err := cn.slaPolicyParam(c, s, c.Params("sla_policy_id"))
	if err != nil {
		return err
	}
	return cn.render(c, s, http.StatusOK, "sla-policy-delete", "Delete an SLA policy", p)
}

func (cn *Console) deleteSLAPolicy(c *fiber.Ctx, s *session) error {
	id := c.Params("sla_policy_id")
	if !domain.ValidID(domain.PrefixSLAPolicy, id) {
		return &APIError{Status: http.StatusNotFound, Message: "There is no such SLA policy."}
	}
	if err := cn.call(c, s, http.MethodDelete, "/api/v1/admin/sla-policies/"+id, nil, nil); err != nil {
		return err
	}
	return c.Redirect(Prefix+"/sla-policies?done=deleted", fiber.StatusSeeOther)
}

// validateSLACondition checks the form's condition with the API as the admin types, as
// the automation editor does.
func (cn *Console) validateSLACondition(c *fiber.Ctx, s *session) error {
	cond := c.FormValue("condition")
	v := validationView{OK: "The condition is valid."}
	switch {
	case len(cond) > maxConditionLen:
		v.Errors = append(v.Errors, fieldError{Param: "condition", Message: "The condition is longer than 2,000 characters."})
	case strings.TrimSpace(cond) == "":
		v.Errors = append(v.Errors, fieldError{Param: "condition", Message: "Write a condition; `true` matches every ticket."})
	default:
		var out validationJSON
		err := cn.call(c, s, http.MethodPost, "/api/v1/admin/automations/validate", map[string]any{"condition": cond}, &out)
		var ae *APIError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
			v.Errors = append(v.Errors, fieldError{Param: ae.Param, Message: ae.Message})
		case err != nil:
			return err
		}
		for _, e := range out.Errors {
			v.Errors = append(v.Errors, fieldError{Param: e.Param, Message: e.Message, Line: e.Line, Column: e.Column, Source: cond})
		}
	}
	v.Valid = len(v.Errors) == 0
	return cn.fragment(c, http.StatusOK, "validation", v)
}

// previewSLADraft shows which of the tenant's recent tickets the form's condition matches
// and the targets they would get, with the API's preview.
func (cn *Console) previewSLADraft(c *fiber.Ctx, s *session) error {
	d := parseSLADraft(c)
	pv := &slaPreviewView{}
	body := map[string]any{"condition": d.Condition}
	if t := d.targets(); t != nil {
		body["targets"] = t
	}
	err := cn.call(c, s, http.MethodPost, "/api/v1/admin/sla-policies/preview", body, pv)
	var ae *APIError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
		*pv = slaPreviewView{Refused: ae.Message}
	case err != nil:
		return err
	}
	if isHTMX(c) {
		return cn.fragment(c, http.StatusOK, "sla-preview", pv)
	}
	// Without JavaScript the whole editor comes back, as typed, with the preview in it.
	v := &slaEditorView{D: d, New: true, Preview: pv}
	if id := c.FormValue("sla_policy_id"); id != "" {
		p, err := cn.slaPolicyParam(c, s, id)
		if err != nil {
			return err
		}
		v.D.ID, v.D.Version, v.New = p.SLAPolicyID, p.Version, false
	}
	return cn.slaEditor(c, s, http.StatusOK, v)
}
