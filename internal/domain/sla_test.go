package domain

import (
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
	due, ok := c.Add(fri, 4*time.Hour)
	if want := time.Date(2026, 11, 30, 11, 0, 0, 0, berlin); !ok || !due.Equal(want) {
		t.Fatalf("due %v, want %v", due.In(berlin), want)
	}
	if got := c.Between(fri, due); got != 4*time.Hour {
		t.Errorf("between %v", got)
	}
	// Started on Saturday night: the clock starts Monday 09:00.
	sat := time.Date(2026, 11, 28, 23, 0, 0, 0, berlin)
	if due, _ := c.Add(sat, 30*time.Minute); !due.Equal(time.Date(2026, 11, 30, 9, 30, 0, 0, berlin)) {
		t.Errorf("from Saturday: %v", due.In(berlin))
	}
	// A holiday Monday moves it to Tuesday.
	h := officeHours(t, "2026-11-30")
	if due, _ := h.Add(fri, 4*time.Hour); !due.Equal(time.Date(2026, 12, 1, 11, 0, 0, 0, berlin)) {
		t.Errorf("over a holiday: %v", due.In(berlin))
	}
	// Daylight saving ends on 2026-10-25: business hours stay 09:00-17:00 local.
	before := time.Date(2026, 10, 23, 16, 0, 0, 0, berlin)
	if due, _ := c.Add(before, 2*time.Hour); !due.Equal(time.Date(2026, 10, 26, 10, 0, 0, 0, berlin)) {
		t.Errorf("over the DST change: %v", due.In(berlin))
	}
	var none *BusinessCalendar
	if due, _ := none.Add(fri, 4*time.Hour); !due.Equal(fri.Add(4 * time.Hour)) {
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
	} {
		if err := c.Check(); ErrorCode(err) != EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
}
