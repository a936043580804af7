package domain

import (
	"strings"
	"testing"
	"time"
)

func officeHours(t *testing.T, holidays ...string) *BusinessCalendar {
	t.Helper()
	day := []HoursRange{{Start: "09:00", End: "12:00"}, {Start: "13:00", End: "17:00"}}
	c := &BusinessCalendar{TimeZone: "Europe/Berlin", Holidays: holidays, Weekly: map[string][]HoursRange{
		"monday": day, "tuesday": day, "wednesday": day, "thursday": day, "friday": day}}
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBusinessHoursOverAWeekend: 4 business hours from Friday 15:00 (Berlin) end Monday
// 11:00; the weekend and lunch do not count, and Between gives the 4 hours back.
func TestBusinessHoursOverAWeekend(t *testing.T) {
	c := officeHours(t)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	fri := time.Date(2026, 11, 27, 15, 0, 0, 0, berlin)
	due := c.Add(fri, 4*time.Hour)
	if want := time.Date(2026, 11, 30, 11, 0, 0, 0, berlin); !due.Equal(want) {
		t.Fatalf("due %v, want %v", due.In(berlin), want)
	}
	if got := c.Between(fri, due); got != 4*time.Hour {
		t.Errorf("between %v", got)
	}
	// Started on Saturday night: the clock starts Monday 09:00.
	sat := time.Date(2026, 11, 28, 23, 0, 0, 0, berlin)
	if due := c.Add(sat, 30*time.Minute); !due.Equal(time.Date(2026, 11, 30, 9, 30, 0, 0, berlin)) {
		t.Errorf("from Saturday: %v", due.In(berlin))
	}
	// A holiday Monday moves it to Tuesday.
	h := officeHours(t, "2026-11-30")
	if due := h.Add(fri, 4*time.Hour); !due.Equal(time.Date(2026, 12, 1, 11, 0, 0, 0, berlin)) {
		t.Errorf("over a holiday: %v", due.In(berlin))
	}
	// Daylight saving ends on 2026-10-25: business hours stay 09:00-17:00 local.
	before := time.Date(2026, 10, 23, 16, 0, 0, 0, berlin)
	if due := c.Add(before, 2*time.Hour); !due.Equal(time.Date(2026, 10, 26, 10, 0, 0, 0, berlin)) {
		t.Errorf("over the DST change: %v", due.In(berlin))
	}
	var none *BusinessCalendar
	if due := none.Add(fri, 4*time.Hour); !due.Equal(fri.Add(4 * time.Hour)) {
		t.Errorf("no calendar: %v", due)
	}
}

func TestCalendarChecks(t *testing.T) {
	for name, c := range map[string]BusinessCalendar{
		"zone":     {TimeZone: "Mars/Olympus", Weekly: map[string][]HoursRange{"monday": {{"09:00", "17:00"}}}},
		"day":      {TimeZone: "UTC", Weekly: map[string][]HoursRange{"caturday": {{"09:00", "17:00"}}}},
		"range":    {TimeZone: "UTC", Weekly: map[string][]HoursRange{"monday": {{"17:00", "09:00"}}}},
		"overlap":  {TimeZone: "UTC", Weekly: map[string][]HoursRange{"monday": {{"09:00", "12:00"}, {"11:00", "13:00"}}}},
		"too thin": {TimeZone: "UTC", Weekly: map[string][]HoursRange{"monday": {{"09:00", "09:30"}}}},
		"holiday":  {TimeZone: "UTC", Weekly: map[string][]HoursRange{"monday": {{"00:00", "24:00"}}}, Holidays: []string{"25/12/2026"}},
		// HH:MM is digits only, the OpenAPI document's pattern.
		"sign":       {TimeZone: "UTC", Weekly: map[string][]HoursRange{"monday": {{"+9:00", "17:00"}}}},
		"minus zero": {TimeZone: "UTC", Weekly: map[string][]HoursRange{"monday": {{"-0:00", "17:00"}}}},
		"space":      {TimeZone: "UTC", Weekly: map[string][]HoursRange{"monday": {{" 9:00", "17:00"}}}},
		"24:30":      {TimeZone: "UTC", Weekly: map[string][]HoursRange{"monday": {{"09:00", "24:30"}}}},
	} {
		if err := c.Check(); ErrorCode(err) != EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestCalendarsThatHadNoDueDate: the calendars issue 19 found giving `due_at: null` with a
// 720 h target, as an admin sends them. The day walk stalled on Havana's and Santiago's
// missing midnights and gave up after 6,000 days on the thin one; each now has its due
// time, and Between gives the target back.
func TestCalendarsThatHadNoDueDate(t *testing.T) {
	officeHours := []HoursRange{{"09:00", "17:00"}}
	midnightHour := []HoursRange{{"00:00", "01:00"}}
	var mondaysOff []string
	for i := range MaxHolidays {
		mondaysOff = append(mondaysOff, time.Date(2027, 1, 4+7*i, 0, 0, 0, 0, time.UTC).Format(time.DateOnly))
	}
	for _, tc := range []struct {
		name       string
		cal        BusinessCalendar
		start, due string
	}{
		{"Havana, Monday to Friday 09:00-17:00", BusinessCalendar{TimeZone: "America/Havana", Weekly: map[string][]HoursRange{
			"monday": officeHours, "tuesday": officeHours, "wednesday": officeHours, "thursday": officeHours, "friday": officeHours}},
			"2027-01-04T09:00:00-05:00", "2027-05-07T17:00:00-04:00"},
		// 720 days of an hour, and two Sundays (2027-09-05, 2028-09-03) whose midnight
		// hour does not exist.
		{"Santiago, 00:00-01:00 daily", BusinessCalendar{TimeZone: "America/Santiago", Weekly: map[string][]HoursRange{
			"sunday": midnightHour, "monday": midnightHour, "tuesday": midnightHour, "wednesday": midnightHour,
			"thursday": midnightHour, "friday": midnightHour, "saturday": midnightHour}},
			"2027-09-01T00:00:00-04:00", "2029-08-22T01:00:00-04:00"},
		// 366 Mondays off, then 720 Mondays of an hour: 7,595 days.
		{"one hour a week, the next 366 Mondays off", BusinessCalendar{TimeZone: "Europe/Berlin", Holidays: mondaysOff,
			Weekly: map[string][]HoursRange{"monday": {{"09:00", "10:00"}}}},
			"2027-01-04T00:00:00+01:00", "2047-10-21T10:00:00+02:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cal.Check(); err != nil {
				t.Fatal(err)
			}
			start, _ := time.Parse(time.RFC3339, tc.start)
			want, _ := time.Parse(time.RFC3339, tc.due)
			due := tc.cal.Add(start, MaxSLATarget)
			if !due.Equal(want) {
				t.Errorf("due %v, want %v", due, want)
			}
			if got := tc.cal.Between(start, due); got != MaxSLATarget {
				t.Errorf("between %v", got)
			}
		})
	}
}

// TestCalendarReachIsBounded: Check holds a calendar to MaxCalendarSpan. Within today's
// limits the thinnest calendar (an hour a week, every holiday taking it out) needs 1,087
// weeks and passes; a longer target than MaxSLATarget on it would not, and the error says
// the bound.
func TestCalendarReachIsBounded(t *testing.T) {
	var sundaysOff []string
	for i := range MaxHolidays {
		sundaysOff = append(sundaysOff, time.Date(2027, 1, 3+7*i, 0, 0, 0, 0, time.UTC).Format(time.DateOnly))
	}
	thinnest := BusinessCalendar{TimeZone: "America/Santiago", Holidays: sundaysOff, Weekly: map[string][]HoursRange{"sunday": {{"00:00", "01:00"}}}}
	if err := thinnest.Check(); err != nil {
		t.Fatal(err)
	}
	err := checkReach(thinnest.cal, 2*MaxSLATarget)
	if ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), "(1440h of business time) within 25 years from any start") || !strings.Contains(err.Error(), "could need 35 years") {
		t.Fatalf("%v", err)
	}
}

// TestClockMarks: where a clock's due and warning instants fall, and which one its timer
// waits for.
func TestClockMarks(t *testing.T) {
	since := time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC) // a Friday
	office := &BusinessCalendar{TimeZone: "UTC", Weekly: map[string][]HoursRange{"friday": {{"09:00", "17:00"}}, "monday": {{"09:00", "17:00"}}}}
	if err := office.Check(); err != nil {
		t.Fatal(err)
	}
	at := func(d, h, m int) *time.Time { t := time.Date(2026, 11, d, h, m, 0, 0, time.UTC); return &t }
	for _, tc := range []struct {
		name         string
		cal          *BusinessCalendar
		running      *time.Time
		elapsed      time.Duration
		due, warning *time.Time
		warned       bool
		next         string
		nextAt       *time.Time
	}{
		{name: "paused: no marks", elapsed: time.Hour},
		{name: "around the clock", running: &since, due: at(27, 19, 0), warning: at(27, 18, 0), next: EventSLAWarning, nextAt: at(27, 18, 0)},
		{name: "in business hours, over the weekend", cal: office, running: &since, due: at(30, 11, 0), warning: at(30, 10, 0), next: EventSLAWarning, nextAt: at(30, 10, 0)},
		{name: "past the warning share: only the breach", cal: office, running: &since, elapsed: 3 * time.Hour, due: at(27, 16, 0), next: EventSLABreached, nextAt: at(27, 16, 0)},
		{name: "warned already: the breach", cal: office, running: &since, warned: true, due: at(30, 11, 0), warning: at(30, 10, 0), next: EventSLABreached, nextAt: at(30, 11, 0)},
		{name: "past the target: due when it runs again", cal: office, running: &since, elapsed: 5 * time.Hour, due: &since, next: EventSLABreached, nextAt: &since},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &SLAClock{Target: 4 * time.Hour, Elapsed: tc.elapsed, RunningSince: tc.running, Warned: tc.warned}
			c.SetMarks(tc.cal, 75)
			same := func(a, b *time.Time) bool { return a == nil && b == nil || a != nil && b != nil && a.Equal(*b) }
			if !same(c.DueAt, tc.due) || !same(c.WarningAt, tc.warning) {
				t.Fatalf("due %v warning %v, want %v %v", c.DueAt, c.WarningAt, tc.due, tc.warning)
			}
			if tc.running == nil {
				return
			}
			if typ, when := c.NextMark(since); typ != tc.next || !when.Equal(*tc.nextAt) {
				t.Errorf("next %s at %v, want %s at %v", typ, when, tc.next, tc.nextAt)
			}
		})
	}
}
