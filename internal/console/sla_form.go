package console

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// The API's names for priorities, SLA metrics and weekdays, in the order the form shows them.
var (
	slaPriorities = []string{"urgent", "high", "normal", "low"}
	slaMetrics    = []string{"first_reply", "resolution"}
	weekdays      = []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
)

// Form limits: what an SLA form may carry before the API sees it.
const (
	maxDurationLen  = 20
	maxHoursLen     = 200
	maxHolidaysLen  = 366 * 12
	maxTimeZoneLen  = 100
	defaultTimeZone = "UTC"
)

type hoursRangeJSON struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type businessHoursJSON struct {
	TimeZone string                      `json:"time_zone"`
	Weekly   map[string][]hoursRangeJSON `json:"weekly"`
	Holidays []string                    `json:"holidays"`
}

type slaPolicyJSON struct {
	SLAPolicyID    string                        `json:"sla_policy_id"`
	Name           string                        `json:"name"`
	Enabled        bool                          `json:"enabled"`
	Condition      string                        `json:"condition"`
	Position       int                           `json:"position"`
	Targets        map[string]map[string]*string `json:"targets"`
	WarningPercent int                           `json:"warning_percent"`
	BusinessHours  *businessHoursJSON            `json:"business_hours"`
	Version        int                           `json:"version"`
	UpdatedAt      string                        `json:"updated_at"`
}

type slaPolicyEnvelope struct {
	SLAPolicy slaPolicyJSON `json:"sla_policy"`
}

// slaDraft is the SLA policy form as typed: targets as Go durations by priority and metric,
// business hours as "09:00-12:00, 13:00-17:00" per weekday and holidays one date a line.
type slaDraft struct {
	ID             string
	Name           string
	Enabled        bool
	Condition      string
	Position       string
	WarningPercent string
	Targets        map[string]map[string]string
	BusinessHours  bool
	TimeZone       string
	Hours          map[string]string
	Holidays       string
	Version        int
}

func (d slaDraft) Target(priority, metric string) string { return d.Targets[priority][metric] }

func newSLADraft() slaDraft {
	d := slaDraft{Enabled: true, Condition: "true", WarningPercent: "75", TimeZone: defaultTimeZone,
		Targets: map[string]map[string]string{}, Hours: map[string]string{}}
	for _, p := range slaPriorities {
		d.Targets[p] = map[string]string{}
	}
	return d
}

func parseSLADraft(c *fiber.Ctx) slaDraft {
	d := newSLADraft()
	d.Name, d.Enabled, d.Condition = strings.TrimSpace(c.FormValue("name")), c.FormValue("enabled") == "on", c.FormValue("condition")
	d.Position, d.WarningPercent = strings.TrimSpace(c.FormValue("position")), strings.TrimSpace(c.FormValue("warning_percent"))
	for _, p := range slaPriorities {
		for _, m := range slaMetrics {
			d.Targets[p][m] = strings.TrimSpace(c.FormValue("target_" + p + "_" + m))
		}
	}
	d.BusinessHours = c.FormValue("business_hours") == "on"
	d.TimeZone = strings.TrimSpace(c.FormValue("time_zone"))
	for _, day := range weekdays {
		d.Hours[day] = strings.TrimSpace(c.FormValue("hours_" + day))
	}
	d.Holidays = c.FormValue("holidays")
	return d
}

// slaDraftOf is the form of a saved policy.
func slaDraftOf(p slaPolicyJSON) slaDraft {
	d := newSLADraft()
	d.ID, d.Name, d.Enabled, d.Condition, d.Version = p.SLAPolicyID, p.Name, p.Enabled, p.Condition, p.Version
	d.Position, d.WarningPercent = strconv.Itoa(p.Position), strconv.Itoa(p.WarningPercent)
	for prio, metrics := range p.Targets {
		if d.Targets[prio] == nil {
			continue
		}
		for m, v := range metrics {
			d.Targets[prio][m] = shortDuration(derefOr(v, ""))
		}
	}
	if bh := p.BusinessHours; bh != nil {
		d.BusinessHours, d.TimeZone, d.Holidays = true, bh.TimeZone, strings.Join(bh.Holidays, "\n")
		for day, ranges := range bh.Weekly {
			var parts []string
			for _, r := range ranges {
				parts = append(parts, r.Start+"-"+r.End)
			}
			d.Hours[day] = strings.Join(parts, ", ")
		}
	}
	return d
}

// shortDuration drops the zero units Go's Duration.String keeps: "4h0m0s" reads "4h".
func shortDuration(s string) string {
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// targets is the draft's targets in the API's shape; nil when none is filled in.
func (d *slaDraft) targets() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, p := range slaPriorities {
		for _, m := range slaMetrics {
			v := d.Targets[p][m]
			if v == "" {
				continue
			}
			if len(v) > maxDurationLen {
				v = v[:maxDurationLen]
			}
			if out[p] == nil {
				out[p] = map[string]string{}
			}
			out[p][m] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// businessHours reads the calendar fields; a range the console cannot read is refused
// here, naming the field, and everything else is left to the API's checks.
func (d *slaDraft) businessHours() (*businessHoursJSON, []fieldError) {
	if !d.BusinessHours {
		return nil, nil
	}
	var errs []fieldError
	bh := &businessHoursJSON{TimeZone: d.TimeZone, Weekly: map[string][]hoursRangeJSON{}, Holidays: []string{}}
	if len(bh.TimeZone) > maxTimeZoneLen {
		errs = append(errs, fieldError{Param: "business_hours.time_zone", Message: "The time zone is longer than 100 characters."})
	}
	for _, day := range weekdays {
		text := d.Hours[day]
		if text == "" {
			continue
		}
		if len(text) > maxHoursLen {
			errs = append(errs, fieldError{Param: "business_hours.weekly." + day, Message: "These hours are longer than 200 characters."})
			continue
		}
		for _, part := range strings.Split(text, ",") {
			start, end, ok := strings.Cut(strings.TrimSpace(part), "-")
			if !ok {
				errs = append(errs, fieldError{Param: "business_hours.weekly." + day,
					Message: fmt.Sprintf("Write %s's hours as ranges such as 09:00-12:00, 13:00-17:00; %q is not one.", day, strings.TrimSpace(part))})
				break
			}
			bh.Weekly[day] = append(bh.Weekly[day], hoursRangeJSON{Start: strings.TrimSpace(start), End: strings.TrimSpace(end)})
		}
	}
	if len(d.Holidays) > maxHolidaysLen {
		errs = append(errs, fieldError{Param: "business_hours.holidays", Message: "The holidays list is too long (at most 366 dates)."})
	} else {
		for _, h := range strings.FieldsFunc(d.Holidays, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ' ' || r == '\t' }) {
			bh.Holidays = append(bh.Holidays, h)
		}
	}
	return bh, errs
}

// body is the policy in the API's shape, for a create or a full update.
func (d *slaDraft) body() (map[string]any, []fieldError) {
	body := map[string]any{"name": d.Name, "enabled": d.Enabled, "condition": d.Condition}
	var errs []fieldError
	if t := d.targets(); t != nil {
		body["targets"] = t
	} else {
		errs = append(errs, fieldError{Param: "targets", Message: "Give at least one target, such as 4h for the resolution of urgent tickets."})
	}
	for _, f := range []struct {
		param, text string
	}{{"position", d.Position}, {"warning_percent", d.WarningPercent}} {
		if f.text == "" {
			continue
		}
		n, err := strconv.Atoi(f.text)
		if err != nil {
			errs = append(errs, fieldError{Param: f.param, Message: "This must be a whole number."})
			continue
		}
		body[f.param] = n
	}
	bh, bhErrs := d.businessHours()
	errs = append(errs, bhErrs...)
	body["business_hours"] = bh // nil: around the clock
	return body, errs
}
