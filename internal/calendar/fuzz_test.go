package calendar

import (
	"math/rand/v2"
	"testing"
	"time"
)

// FuzzAgainstTheOracle compares Between and Add with the minute-stepping oracle for any
// zone, calendar, start (brought into 1900-2100) and span (up to three days). The seeds in
// testdata/fuzz/FuzzAgainstTheOracle are the named days: Havana's and Santiago's missing
// midnights and midnight fall-backs, Apia's skipped Friday, Kathmandu's move to +05:45,
// Lord Howe's half hour, Berlin's repeat with a holiday.
//
// spec is read in chunks of four bytes [kind, a, b, c]: kind%8 below 7 is a range on
// that weekday starting at minute (a<<8|b)%1440 and lasting (c+1)*15 minutes (cut at
// midnight; a range that would overlap another is dropped); 7 makes the date a%8-2 days
// from the start's a holiday.
func FuzzAgainstTheOracle(f *testing.F) {
	f.Fuzz(func(t *testing.T, zone string, start int64, spec []byte, span uint16, pick uint64) {
		if zone == "" || zone == "Local" {
			return
		}
		loc, err := time.LoadLocation(zone)
		if err != nil {
			return
		}
		const from, years = -2208988800, 200 // 1900-01-01 UTC
		start = from + (start-from)%(years*365*86400)
		if start < from {
			start += years * 365 * 86400
		}
		st := time.Unix(start-start%60, 0)
		week, holidays := decodeCalendar(spec, st.In(loc))
		c, err := New(loc, week, holidays)
		if err != nil {
			return // no business time
		}
		n := 1 + int(span)%(3*24*60)
		o := newOracle(loc, week, holidays)
		cum, ok := o.walk(st, n)
		if !ok {
			return
		}
		check(t, rand.New(rand.NewPCG(pick, 0)), c, o, st, n, cum)
	})
}

func decodeCalendar(spec []byte, start time.Time) (Week, []Date) {
	var w Week
	var holidays []Date
	for ; len(spec) >= 4; spec = spec[4:] {
		kind, a, b, c := int(spec[0]%8), int(spec[1]), int(spec[2]), int(spec[3])
		if kind == 7 {
			d := time.Date(start.Year(), start.Month(), start.Day()+a%8-2, 12, 0, 0, 0, time.UTC)
			holidays = append(holidays, Date{d.Year(), d.Month(), d.Day()})
			continue
		}
		s := (a<<8 | b) % 1440
		r := Range{time.Duration(s) * time.Minute, time.Duration(min(s+(c+1)*15, 1440)) * time.Minute}
		overlaps := len(w[kind]) >= 4
		for _, o := range w[kind] {
			overlaps = overlaps || r.Start < o.End && o.Start < r.End
		}
		if !overlaps {
			w[kind] = append(w[kind], r)
		}
	}
	return w, holidays
}
