package domain

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/threada/threada/internal/calendar"
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
	// MinWeeklyBusinessHours keeps the longest target within reach: with MaxHolidays each
	// taking out a day, 720 h of business time take at most 1 + 720 + 366 = 1,087 weeks.
	MinWeeklyBusinessHours = time.Hour
	// MaxCalendarSpan is the bound Check holds a calendar to: from any start, the longest
	// target must be made up within it, counting wall-clock weeks less holidays (25 years
	// of 52 weeks). The arithmetic looks up to calendar.Horizon (30 years) ahead; the
	// difference is for time lost to daylight-saving gaps. Within the limits above every
	// calendar meets it.
	MaxCalendarSpan = 1300 * 7 * 24 * time.Hour
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
// The arithmetic is package calendar's; a range's times that a daylight-saving gap skips
// do not count, and those a repeat shows twice count twice.
type BusinessCalendar struct {
	TimeZone string                  `json:"time_zone"`
	Weekly   map[string][]HoursRange `json:"weekly"`
	Holidays []string                `json:"holidays"` // dates, "2026-12-25"

	cal *calendar.Calendar // set by Check
}

// Check validates the calendar and prepares it for Add and Between.
func (c *BusinessCalendar) Check() error {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil || c.TimeZone == "" || strings.EqualFold(c.TimeZone, "local") {
		return Invalidf("business_hours.time_zone", "`business_hours.time_zone` must be an IANA time zone such as Europe/Berlin; got %q.", c.TimeZone)
	}
	var week calendar.Week
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
		spans, err := daySpans(param, ranges)
		if err != nil {
			return err
		}
		for _, sp := range spans {
			weekly += sp.End - sp.Start
		}
		week[i] = spans
	}
	if weekly < MinWeeklyBusinessHours {
		return Invalidf("business_hours.weekly", "`business_hours.weekly` must hold at least %v of business hours a week.", MinWeeklyBusinessHours)
	}
	if len(c.Holidays) > MaxHolidays {
		return Invalidf("business_hours.holidays", "`business_hours.holidays` can hold at most %d dates.", MaxHolidays)
	}
	holidays := make([]calendar.Date, 0, len(c.Holidays))
	for _, h := range c.Holidays {
		d, err := calendar.ParseDate(h)
		if err != nil {
			return Invalidf("business_hours.holidays", "`business_hours.holidays` holds dates as YYYY-MM-DD; got %q.", h)
		}
		holidays = append(holidays, d)
	}
	cal, err := calendar.New(loc, week, holidays)
	if err != nil { // the checks above leave nothing for it to refuse
		return Invalidf("business_hours", "`business_hours` is not a calendar: %v.", err)
	}
	if err := checkReach(cal, MaxSLATarget); err != nil {
		return err
	}
	c.cal = cal
	return nil
}

// daySpans are a day's business hours as sorted, non-overlapping spans; param names the
// day in errors.
func daySpans(param string, ranges []HoursRange) ([]calendar.Range, error) {
	var spans []calendar.Range
	for j, r := range ranges {
		s, okS := clockMinutes(r.Start)
		e, okE := clockMinutes(r.End)
		if !okS || !okE || e <= s {
			at := fmt.Sprintf("%s[%d].end", param, j)
			if !okS {
				at = fmt.Sprintf("%s[%d].start", param, j)
			}
			return nil, Invalidf(at, "`%s`: each range is {\"start\": \"HH:MM\", \"end\": \"HH:MM\"} with start before end (end may be 24:00); got %q-%q.", at, r.Start, r.End)
		}
		spans = append(spans, calendar.Range{Start: time.Duration(s) * time.Minute, End: time.Duration(e) * time.Minute})
	}
	slices.SortFunc(spans, func(a, b calendar.Range) int { return cmp.Compare(a.Start, b.Start) })
	for j := 1; j < len(spans); j++ {
		if spans[j].Start < spans[j-1].End {
			return nil, Invalidf(param, "`%s`: ranges overlap.", param)
		}
	}
	return spans, nil
}

// checkReach refuses a calendar in which the longest target could take longer than
// MaxCalendarSpan to make up, so that a running clock always gets a due date.
func checkReach(cal *calendar.Calendar, longest time.Duration) error {
	if worst := cal.WorstCase(longest); worst > MaxCalendarSpan {
		const year = 52 * 7 * 24 * time.Hour
		return Invalidf("business_hours", "`business_hours` must make up the longest target (%dh of business time) within %d years from any start, holidays taken out; this calendar could need %d years: add business hours or remove holidays.",
			longest/time.Hour, MaxCalendarSpan/year, (worst+year-1)/year)
	}
	return nil
}

// clockMinutes reads "HH:MM" (up to "24:00"), digits only: Sscanf alone would take
// "+9:00" and "-0:30".
func clockMinutes(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, false
	}
	return h*60 + m, true
}

// checked returns the calendar Check prepared.
func (c *BusinessCalendar) checked() *calendar.Calendar {
	if c.cal == nil {
		panic("domain: BusinessCalendar used before Check")
	}
	return c.cal
}

// Add returns the instant at which d of business time has passed since start (start.Add(d)
// without a calendar). For a checked calendar and d up to MaxSLATarget there always is
// one: Check keeps the worst case within MaxCalendarSpan, well inside calendar.Horizon.
func (c *BusinessCalendar) Add(start time.Time, d time.Duration) time.Time {
	if c == nil {
		return start.Add(d)
	}
	due, ok := c.checked().Add(start, d)
	if !ok {
		// Only a d past MaxSLATarget can get here: "not within the horizon" is still a
		// due time, never none.
		return start.Add(calendar.Horizon)
	}
	return due
}

// Between returns the business time from a to b (0 if b is not after a).
func (c *BusinessCalendar) Between(a, b time.Time) time.Duration {
	if c == nil {
		return max(b.Sub(a), 0)
	}
	return c.checked().Between(a, b)
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
	if in.Condition != nil && (strings.TrimSpace(*in.Condition) == "" || utf8.RuneCountInString(*in.Condition) > MaxConditionLen) {
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

// SetMarks sets a clock's due and warning instants from where it stands: while it runs,
// the target less the time elapsed, and the warning share of the target if not yet
// elapsed, in business time of cal after RunningSince; while paused or stopped, none.
// With a checked calendar a running clock always gets a due time.
func (c *SLAClock) SetMarks(cal *BusinessCalendar, warningPercent int) {
	c.DueAt, c.WarningAt = nil, nil
	if c.RunningSince == nil {
		return
	}
	due := cal.Add(*c.RunningSince, max(c.Target-c.Elapsed, 0))
	c.DueAt = &due
	if warn := c.Target * time.Duration(warningPercent) / 100; warn > c.Elapsed {
		w := cal.Add(*c.RunningSince, warn-c.Elapsed)
		c.WarningAt = &w
	}
}

// NextMark returns the event a running clock's timer fires next, and when, as of at: the
// warning while it is due and not given, else the breach.
func (c *SLAClock) NextMark(at time.Time) (eventType string, due time.Time) {
	if !c.Warned && c.WarningAt != nil && c.WarningAt.After(at) {
		return EventSLAWarning, *c.WarningAt
	}
	return EventSLABreached, *c.DueAt
}

// TicketSLA is a ticket's SLA as the public API shows it.
type TicketSLA struct {
	PolicyID string
	Clocks   map[string]*SLAClock // by metric
}
