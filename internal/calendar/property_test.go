package calendar

import (
	"flag"
	"hash/fnv"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

var seed = flag.Uint64("seed", 1, "seed of the property test's random calendars and starts")

// TestAgainstTheOracleInEveryZone compares Between and Add with the minute-stepping oracle
// in every zone of the tz database, on random calendars and holidays, over two days that
// hold one of the zone's offset changes: two picked among this decade's (2024-2030, where
// daylight saving is kept, its gaps and repeats), one among those since 1970 (a zone's
// change of standard offset, Kathmandu's +05:30 to +05:45, Apia's skipped day) and, where
// daylight saving is still kept in 2040, the last day of that leap year (past every
// zone's table, where Go computes periods from the zone's rule and ZoneBounds errs,
// golang/go#81583); a zone that never changed gets a random start. Bounded to keep
// `make test` in seconds: two days of minutes per case, at most four cases per zone.
func TestAgainstTheOracleInEveryZone(t *testing.T) {
	const minutes = 2 * 24 * 60
	var cases, checks atomic.Int64
	t.Cleanup(func() {
		t.Logf("seed %d: %d cases, %d comparisons with the oracle", *seed, cases.Load(), checks.Load())
	})
	for _, name := range zones(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			loc, err := time.LoadLocation(name)
			if err != nil {
				t.Fatal(err)
			}
			h := fnv.New64a()
			h.Write([]byte(name))
			r := rand.New(rand.NewPCG(*seed, h.Sum64()))
			for _, near := range nearChanges(r, loc) {
				start := near.Add(-time.Duration(r.IntN(minutes)) * time.Minute).Truncate(time.Minute)
				week, holidays := randomWeek(r), randomHolidays(r, loc, start, 3)
				c, err := New(loc, week, holidays)
				if err != nil {
					t.Fatal(err)
				}
				o := newOracle(loc, week, holidays)
				cum, ok := o.walk(start, minutes)
				if !ok {
					continue // an offset in seconds: the minute grid would not be exact
				}
				cases.Add(1)
				checks.Add(int64(check(t, r, c, o, start, minutes, cum)))
			}
		})
	}
}

// nearChanges picks the instants the property test starts around.
func nearChanges(r *rand.Rand, loc *time.Location) []time.Time {
	year := func(y int) time.Time { return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC) }
	var out []time.Time
	if recent := changes(loc, year(2024), year(2031)); len(recent) > 0 {
		for range 2 {
			out = append(out, recent[r.IntN(len(recent))])
		}
	}
	if past := changes(loc, year(1970), year(2024)); len(past) > 0 {
		out = append(out, past[r.IntN(len(past))])
	}
	if len(changes(loc, year(2040), year(2041))) > 0 {
		out = append(out, time.Date(2040, 12, 31, 12, 0, 0, 0, time.UTC))
	}
	if len(out) == 0 {
		out = append(out, year(2026).Add(time.Duration(r.Int64N(int64(5*365*24*time.Hour)))))
	}
	return out
}

// changes returns the instants in [from, to) where loc's UTC offset changes.
func changes(loc *time.Location, from, to time.Time) []time.Time {
	var out []time.Time
	for t := from; ; {
		_, end := t.In(loc).ZoneBounds()
		if end.IsZero() || !end.Before(to) {
			return out
		}
		if !end.After(t) { // golang/go#81583 (see period)
			t = t.Add(time.Hour)
			continue
		}
		_, before := end.Add(-time.Second).In(loc).Zone()
		if _, after := end.In(loc).Zone(); after != before {
			out = append(out, end)
		}
		t = end
	}
}
