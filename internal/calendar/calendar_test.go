package calendar

import (
	"fmt"
	"testing"
	"time"
)

// hours reads "09:00"-"17:00" (end "24:00" for midnight).
func hours(from, to string) Range {
	parse := func(s string) time.Duration {
		var h, m int
		if _, err := fmt.Sscanf(s, "%d:%d", &h, &m); err != nil {
			panic(s)
		}
		return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
	}
	return Range{parse(from), parse(to)}
}

// on returns a week with r on the days named.
func on(r Range, days ...time.Weekday) Week {
	var w Week
	for _, d := range days {
		w[d] = append(w[d], r)
	}
	return w
}

var (
	weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	everyDay = []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}
)

// wall reads a wall-clock time with its offset, so that a repeated hour is not ambiguous.
func wall(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04 -07:00", s)
	if err != nil {
		panic(err)
	}
	return t
}

// weekly returns n dates a week apart from first.
func weekly(first Date, n int) []Date {
	out := make([]Date, n)
	for i := range out {
		t := time.Date(first.Year, first.Month, first.Day+7*i, 0, 0, 0, 0, time.UTC)
		out[i] = Date{t.Year(), t.Month(), t.Day()}
	}
	return out
}

// TestNamedDays: the days a day-by-day walk got wrong, and the odd offsets. Each case
// gives a start and an end instant (with their offsets, so repeated hours are exact); with
// add, Add(from, add) must give to and Between(from, to) add back; without, Between(from,
// to) must be between.
func TestNamedDays(t *testing.T) {
	officeHours := on(hours("09:00", "17:00"), weekdays...)
	for _, tc := range []struct {
		name     string
		zone     string
		week     Week
		holidays []Date
		from, to string
		add      time.Duration
		between  time.Duration
	}{
		{name: "Havana office hours, 720 h over the missing midnight of 2027-03-14 (the issue's)", zone: "America/Havana", week: officeHours,
			from: "2027-01-04 09:00 -05:00", to: "2027-05-07 17:00 -04:00", add: 720 * time.Hour},
		{name: "Havana: from Saturday over the missing midnight to Monday", zone: "America/Havana", week: officeHours,
			from: "2027-03-13 12:00 -05:00", to: "2027-03-15 17:00 -04:00", add: 8 * time.Hour},
		// 00:00-01:00 daily: one hour a day but the Sundays whose midnight is skipped
		// (2027-09-05, 2028-09-03), so 720 h take 722 days.
		{name: "Santiago 00:00-01:00 daily, 720 h (the issue's)", zone: "America/Santiago", week: on(hours("00:00", "01:00"), everyDay...),
			from: "2027-09-01 00:00 -04:00", to: "2029-08-22 01:00 -04:00", add: 720 * time.Hour},
		{name: "Santiago: the Sunday without midnight has no 00:00-01:00", zone: "America/Santiago", week: on(hours("00:00", "01:00"), everyDay...),
			from: "2027-09-04 00:00 -04:00", to: "2027-09-07 00:00 -03:00", between: 2 * time.Hour},
		{name: "Santiago: 23:00-24:00 just before the missing midnight is whole", zone: "America/Santiago", week: on(hours("23:00", "24:00"), time.Saturday),
			from: "2027-09-04 12:00 -04:00", to: "2027-09-05 12:00 -03:00", between: time.Hour},
		{name: "Santiago falls back at midnight: Saturday 22:00-24:00 repeats 23:00-24:00", zone: "America/Santiago", week: on(hours("22:00", "24:00"), time.Saturday),
			from: "2027-04-03 12:00 -03:00", to: "2027-04-04 12:00 -04:00", between: 3 * time.Hour},
		{name: "Havana falls back to midnight: Sunday 00:00-02:00 holds 00:00-01:00 twice", zone: "America/Havana", week: on(hours("00:00", "02:00"), time.Sunday),
			from: "2027-11-06 12:00 -04:00", to: "2027-11-08 00:00 -05:00", between: 3 * time.Hour},
		{name: "Havana: the end in the second 00:00-01:00", zone: "America/Havana", week: on(hours("00:00", "02:00"), time.Sunday),
			from: "2027-11-06 12:00 -04:00", to: "2027-11-07 00:30 -05:00", add: 90 * time.Minute},
		{name: "Apia skips Friday 2011-12-30: Thursday's last hour, then Monday", zone: "Pacific/Apia", week: officeHours,
			from: "2011-12-29 16:00 -10:00", to: "2012-01-02 10:00 +14:00", add: 2 * time.Hour},
		{name: "Apia: a Friday-only calendar has nothing that week", zone: "Pacific/Apia", week: on(hours("00:00", "24:00"), time.Friday),
			from: "2011-12-29 00:00 -10:00", to: "2012-01-05 00:00 +14:00", between: 0},
		{name: "Kathmandu (+05:45): Friday 16:30 plus an hour", zone: "Asia/Kathmandu", week: officeHours,
			from: "2026-06-05 16:30 +05:45", to: "2026-06-08 09:30 +05:45", add: time.Hour},
		{name: "Kathmandu moved from +05:30 to +05:45 at midnight 1986-01-01", zone: "Asia/Kathmandu", week: on(hours("00:00", "01:00"), everyDay...),
			from: "1985-12-31 12:00 +05:30", to: "1986-01-01 12:00 +05:45", between: 45 * time.Minute},
		{name: "Kolkata (+05:30): Friday 16:30 plus an hour, a holiday Monday", zone: "Asia/Kolkata", week: officeHours, holidays: []Date{{2026, 6, 8}},
			from: "2026-06-05 16:30 +05:30", to: "2026-06-09 09:30 +05:30", add: time.Hour},
		{name: "Lord Howe's half-hour fall-back: Sunday 01:00-03:00 is 2 h 30", zone: "Australia/Lord_Howe", week: on(hours("01:00", "03:00"), time.Sunday),
			from: "2027-04-03 12:00 +11:00", to: "2027-04-05 00:00 +10:30", between: 150 * time.Minute},
		{name: "Lord Howe's half-hour gap: Sunday 01:00-03:00 is 1 h 30", zone: "Australia/Lord_Howe", week: on(hours("01:00", "03:00"), time.Sunday),
			from: "2026-10-03 12:00 +10:30", to: "2026-10-05 00:00 +11:00", between: 90 * time.Minute},
		{name: "Berlin's gap: Sunday 01:00-04:00 is 2 h", zone: "Europe/Berlin", week: on(hours("01:00", "04:00"), time.Sunday),
			from: "2026-03-29 00:00 +01:00", to: "2026-03-30 00:00 +02:00", between: 2 * time.Hour},
		{name: "Berlin's repeat: Sunday 01:00-04:00 is 4 h", zone: "Europe/Berlin", week: on(hours("01:00", "04:00"), time.Sunday),
			from: "2026-10-25 00:00 +02:00", to: "2026-10-26 00:00 +01:00", between: 4 * time.Hour},
		{name: "the end of a range is the due time, not the next opening", zone: "Europe/Berlin", week: officeHours,
			from: "2026-11-27 09:00 +01:00", to: "2026-11-27 17:00 +01:00", add: 8 * time.Hour},
		{name: "nothing to add is the start itself, even out of hours", zone: "Europe/Berlin", week: officeHours,
			from: "2026-11-28 03:00 +01:00", to: "2026-11-28 03:00 +01:00", add: 0},
		// One business hour a week, the next 366 Mondays off: 720 h end on the 1,086th
		// Monday, 7,595 days on, past the old walk's 6,000 days (the issue's).
		{name: "one hour a week, 366 Mondays off, 720 h", zone: "Europe/Berlin", week: on(hours("09:00", "10:00"), time.Monday), holidays: weekly(Date{2027, 1, 4}, 366),
			from: "2027-01-04 00:00 +01:00", to: "2047-10-21 10:00 +02:00", add: 720 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc, err := time.LoadLocation(tc.zone)
			if err != nil {
				t.Fatal(err)
			}
			c, err := New(loc, tc.week, tc.holidays)
			if err != nil {
				t.Fatal(err)
			}
			from, to := wall(tc.from), wall(tc.to)
			if tc.add > 0 || tc.between == 0 && from.Equal(to) {
				if got, ok := c.Add(from, tc.add); !ok || !got.Equal(to) {
					t.Errorf("Add(%v, %v) = %v (%v) %v, want %v", from, tc.add, got, got.In(loc), ok, to)
				}
				tc.between = tc.add
			}
			if got := c.Between(from, to); got != tc.between {
				t.Errorf("Between(%v, %v) = %v, want %v", from, to, got, tc.between)
			}
		})
	}
}

// TestThinnestCalendarsReachInEveryZone: the bound domain validation relies on. The
// thinnest calendars it accepts (one hour a week, on the hours where zones change offset,
// with 366 holidays taking that hour out of 366 weeks) have a worst case of 1,087 weeks
// of wall-clock time for 720 h, and in every zone Add finds the due time within Horizon,
// from now and from a year past every zone's table of changes.
func TestThinnestCalendarsReachInEveryZone(t *testing.T) {
	starts := []time.Time{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2090, 1, 1, 0, 0, 0, 0, time.UTC)}
	var thinnest []Week
	for _, h := range []time.Duration{0, time.Hour, 2 * time.Hour, 23 * time.Hour} {
		thinnest = append(thinnest, on(Range{h, h + time.Hour}, time.Sunday))
	}
	for _, name := range zones(t) {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, start := range starts {
			first := start.In(loc)
			first = first.AddDate(0, 0, (7-int(first.Weekday()))%7)
			sunday := Date{first.Year(), first.Month(), first.Day()}
			for _, week := range thinnest {
				c, err := New(loc, week, weekly(sunday, 366))
				if err != nil {
					t.Fatal(err)
				}
				if w := c.WorstCase(720 * time.Hour); w != 1087*7*24*time.Hour {
					t.Fatalf("worst case %v", w)
				}
				due, ok := c.Add(start, 720*time.Hour)
				if !ok || c.Between(start, due) != 720*time.Hour {
					t.Errorf("%s, %v from %v: %v %v", name, week, start, due, ok)
				}
			}
		}
	}
}
