package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// PrefixSLAPolicy starts SLA policy IDs.
const PrefixSLAPolicy = "slp"

// SLA metrics: the first agent message after creation, and the ticket's resolution
// (status solved).
const (
	SLAFirstReply = "first_reply"
	SLAResolution = "resolution"
)

// SLAMetrics lists the metrics in documentation order.
var SLAMetrics = []string{SLAFirstReply, SLAResolution}

// Documented limits of SLA policies.
const (
	MaxSLAPolicies           = 100
	MaxSLATarget             = 30 * 24 * time.Hour
	DefaultSLAWarningPercent = 75
	MaxHolidays              = 366
	MaxHoursPerDay           = 4 // ranges per weekday
	// MinWeeklyBusinessHours keeps a calendar's arithmetic bounded: a target of 30 days of
	// business time spans at most 720 weeks.
	MinWeeklyBusinessHours = time.Hour
	// calendarDayLimit bounds the days a calendar computation walks; past it the clock is
	// treated as breached (it cannot happen within the limits above).
	calendarDayLimit = 6000
)

// MinSLATarget is the shortest target; a variable so that end-to-end tests can breach a
// clock within seconds. The API documents one minute.
var MinSLATarget = time.Minute

// Weekdays are the keys of a calendar's weekly hours.
var Weekdays = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// SLAPolicy sets the targets of the tickets whose condition it matches first (policies in
// position order), per priority, optionally counted in business hours.
type SLAPolicy struct {
	ID             string
	TenantID       string
	Name           string
	Enabled        bool
	Condition      string
	Position       int
	Targets        map[string]SLATarget // by priority; a priority absent has no clocks
	WarningPercent int                  // sla.warning at this share of the target
	Calendar       *BusinessCalendar    // nil: the clock runs around the clock
	Version        int
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// SLATarget is a priority's targets; zero means none for that metric.
type SLATarget struct {
	FirstReply time.Duration
	Resolution time.Duration
}

// Of returns the target of a metric.
func (t SLATarget) Of(metric string) time.Duration {
	if metric == SLAFirstReply {
		return t.FirstReply
	}
	return t.Resolution
}

// HoursRange is a span of business hours in a day, "09:00" to "17:30" (end "24:00" for
// midnight), local time of the calendar.
type HoursRange struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// BusinessCalendar is when an SLA clock runs: weekly hours in a time zone, less holidays.
type BusinessCalendar struct {
	TimeZone string                  `json:"time_zone"`
	Weekly   map[string][]HoursRange `json:"weekly"`
	Holidays []string                `json:"holidays"` // dates, "2026-12-25"

	loc      *time.Location
	minutes  [7][][2]int // per weekday, [start, end) in minutes from midnight
	holidays map[string]bool
}

// Check validates the calendar and prepares it for Add and Between.
func (c *BusinessCalendar) Check() error {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil || c.TimeZone == "" || strings.EqualFold(c.TimeZone, "local") {
		return Invalidf("business_hours.time_zone", "`business_hours.time_zone` must be an IANA time zone such as Europe/Berlin; got %q.", c.TimeZone)
	}
	c.loc = loc
	var weekly time.Duration
	for day, ranges := range c.Weekly {
		i := slices.Index(Weekdays, day)
		param := "business_hours.weekly." + day
		if i < 0 {
			return Invalidf(param, "`business_hours.weekly` keys are %s; got %q.", strings.Join(Weekdays, ", "), day)
		}
		if len(ranges) > MaxHoursPerDay {
			return Invalidf(param, "`%s` can hold at most %d ranges.", param, MaxHoursPerDay)
		}
		var spans [][2]int
		for _, r := range ranges {
			s, okS := clockMinutes(r.Start)
			e, okE := clockMinutes(r.End)
			if !okS || !okE || e <= s {
				return Invalidf(param, "`%s`: each range is {\"start\": \"HH:MM\", \"end\": \"HH:MM\"} with start before end (end may be 24:00); got %q-%q.", param, r.Start, r.End)
			}
			spans = append(spans, [2]int{s, e})
		}
		slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
		for j := 1; j < len(spans); j++ {
			if spans[j][0] < spans[j-1][1] {
				return Invalidf(param, "`%s`: ranges overlap.", param)
			}
		}
		for _, sp := range spans {
			weekly += time.Duration(sp[1]-sp[0]) * time.Minute
		}
		c.minutes[i] = spans
	}
	if weekly < MinWeeklyBusinessHours {
		return Invalidf("business_hours.weekly", "`business_hours.weekly` must hold at least %v of business hours a week.", MinWeeklyBusinessHours)
	}
	if len(c.Holidays) > MaxHolidays {
		return Invalidf("business_hours.holidays", "`business_hours.holidays` can hold at most %d dates.", MaxHolidays)
	}
	c.holidays = make(map[string]bool, len(c.Holidays))
	for _, h := range c.Holidays {
		if _, err := time.Parse(time.DateOnly, h); err != nil {
			return Invalidf("business_hours.holidays", "`business_hours.holidays` holds dates as YYYY-MM-DD; got %q.", h)
		}
		c.holidays[h] = true
	}
	return nil
}

// clockMinutes reads "HH:MM" (up to "24:00").
func clockMinutes(s string) (int, bool) {
	var h, m int
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &h, &m); err != nil || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, false
	}
	return h*60 + m, true
}

// spans returns the business spans of the day that starts at midnight day (in the
// calendar's zone), as instants.
func (c *BusinessCalendar) spans(day time.Time) [][2]time.Time {
	if c.holidays[day.Format(time.DateOnly)] {
		return nil
	}
	y, mo, d := day.Date()
	var out [][2]time.Time
	for _, sp := range c.minutes[day.Weekday()] {
		out = append(out, [2]time.Time{
			time.Date(y, mo, d, sp[0]/60, sp[0]%60, 0, 0, c.loc),
			time.Date(y, mo, d, sp[1]/60, sp[1]%60, 0, 0, c.loc),
		})
	}
	return out
}

func midnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// Add returns the instant d of business time after start; ok is false past the
// calendar's bound (never, in practice).
func (c *BusinessCalendar) Add(start time.Time, d time.Duration) (time.Time, bool) {
	if c == nil {
		return start.Add(d), true
	}
	t := start.In(c.loc)
	day := midnight(t)
	for range calendarDayLimit {
		for _, sp := range c.spans(day) {
			if !sp[1].After(t) {
				continue
			}
			from := sp[0]
			if t.After(from) {
				from = t
			}
			if avail := sp[1].Sub(from); d <= avail {
				return from.Add(d).UTC(), true
			} else {
				d -= avail
			}
		}
		day = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, c.loc)
		t = day
	}
	return time.Time{}, false
}

// Between returns the business time from a to b (0 if b is not after a), at most the
// calendar's bound.
func (c *BusinessCalendar) Between(a, b time.Time) time.Duration {
	if !b.After(a) {
		return 0
	}
	if c == nil {
		return b.Sub(a)
	}
	a, b = a.In(c.loc), b.In(c.loc)
	var total time.Duration
	day := midnight(a)
	for range calendarDayLimit {
		if !day.Before(b) {
			break
		}
		for _, sp := range c.spans(day) {
			from, to := sp[0], sp[1]
			if a.After(from) {
				from = a
			}
			if b.Before(to) {
				to = b
			}
			if to.After(from) {
				total += to.Sub(from)
			}
		}
		day = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, c.loc)
	}
	return total
}

// SLAPolicyInput is a new policy or, with nil meaning "keep", an update.
type SLAPolicyInput struct {
	Name           *string
	Enabled        *bool
	Condition      *string
	Position       *int
	Targets        *map[string]SLATarget
	WarningPercent *int
	Calendar       *BusinessCalendar
	ClearCalendar  bool
}

// CheckStatic checks the fields that need no expression engine; for a create, name,
// condition and targets are required.
func (in *SLAPolicyInput) CheckStatic(create bool) error {
	if create {
		for name, missing := range map[string]bool{"name": in.Name == nil, "condition": in.Condition == nil, "targets": in.Targets == nil} {
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
	if in.Condition != nil && (strings.TrimSpace(*in.Condition) == "" || len(*in.Condition) > MaxConditionLen) {
		return Invalidf("condition", "`condition` is required (use `true` for every ticket), at most %d characters.", MaxConditionLen)
	}
	if in.Targets != nil {
		if len(*in.Targets) == 0 {
			return Invalidf("targets", "`targets` needs at least one priority.")
		}
		for p, t := range *in.Targets {
			if err := checkEnum("targets", p, Priorities); err != nil {
				return err
			}
			if t.FirstReply == 0 && t.Resolution == 0 {
				return Invalidf("targets."+p, "`targets.%s` needs first_reply, resolution or both.", p)
			}
			for metric, d := range map[string]time.Duration{SLAFirstReply: t.FirstReply, SLAResolution: t.Resolution} {
				if d != 0 && (d < MinSLATarget || d > MaxSLATarget || d%time.Second != 0) {
					return Invalidf("targets."+p+"."+metric, "`targets.%s.%s` must be whole seconds from %v to 720h (30 days), as a Go duration such as \"4h\".", p, metric, MinSLATarget)
				}
			}
		}
	}
	if in.WarningPercent != nil && (*in.WarningPercent < 1 || *in.WarningPercent > 99) {
		return Invalidf("warning_percent", "`warning_percent` must be from 1 to 99.")
	}
	if in.Calendar != nil {
		if err := in.Calendar.Check(); err != nil {
			return err
		}
	}
	if in.Position != nil && (*in.Position < 0 || *in.Position > 1_000_000) {
		return Invalidf("position", "`position` must be from 0 to 1000000.")
	}
	return nil
}

// SLAClock is one metric's clock on a ticket.
type SLAClock struct {
	Metric   string
	PolicyID string
	Target   time.Duration
	// Elapsed is the business time counted before RunningSince; RunningSince is nil while
	// the clock is paused or stopped.
	Elapsed      time.Duration
	RunningSince *time.Time
	DueAt        *time.Time
	WarningAt    *time.Time
	Warned       bool
	Breached     bool
	BreachedAt   *time.Time
	AchievedAt   *time.Time
}

// TicketSLA is a ticket's SLA as the public API shows it.
type TicketSLA struct {
	PolicyID string
	Clocks   map[string]*SLAClock // by metric
}
