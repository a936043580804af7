package calendar

import (
	"math/rand/v2"
	"testing"
	"time"
)

// oracle is the package's definition, stepped minute by minute with nothing but the
// time package: an instant is business time when its wall clock in the zone falls in a
// range of its weekday and its date is not a holiday.
type oracle struct {
	loc      *time.Location
	week     Week
	holidays map[Date]bool
}

func newOracle(loc *time.Location, week Week, holidays []Date) *oracle {
	o := &oracle{loc: loc, week: week, holidays: map[Date]bool{}}
	for _, h := range holidays {
		o.holidays[h] = true
	}
	return o
}

func (o *oracle) busy(t time.Time) bool {
	l := t.In(o.loc)
	y, m, d := l.Date()
	if o.holidays[Date{y, m, d}] {
		return false
	}
	h, mi, s := l.Clock()
	at := time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(s)*time.Second
	for _, r := range o.week[l.Weekday()] {
		if r.Start <= at && at < r.End {
			return true
		}
	}
	return false
}

// walk returns cum with cum[k] the business minutes in [start, start+k minutes) for k up
// to n. Stepping by minutes is exact only while the zone's offsets are whole minutes
// (ranges are, and so are the transitions between such offsets); ok is false otherwise.
func (o *oracle) walk(start time.Time, n int) (cum []int, ok bool) {
	cum = make([]int, n+1)
	for k := range n {
		t := start.Add(time.Duration(k) * time.Minute)
		if _, off := t.In(o.loc).Zone(); off%60 != 0 {
			return nil, false
		}
		cum[k+1] = cum[k]
		if o.busy(t) {
			cum[k+1]++
		}
	}
	return cum, true
}

// check compares c with the oracle's walk of n minutes from start: the whole span, then
// random sub-spans for Between and Add, then starts off the minute grid. It returns the
// number of comparisons.
func check(t *testing.T, r *rand.Rand, c *Calendar, o *oracle, start time.Time, n int, cum []int) int {
	t.Helper()
	at := func(k int) time.Time { return start.Add(time.Duration(k) * time.Minute) }
	minutes := func(k int) time.Duration { return time.Duration(k) * time.Minute }
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s, calendar %v, holidays %v: "+format, append([]any{o.loc, o.week, keys(o.holidays)}, args...)...)
	}
	checks := 0
	if got := c.Between(start, at(n)); got != minutes(cum[n]) {
		fail("Between(%v, %v) = %v, oracle %v", start, at(n), got, minutes(cum[n]))
	}
	for range 6 {
		i, j := r.IntN(n+1), r.IntN(n+1)
		if i > j {
			i, j = j, i
		}
		checks++
		if got := c.Between(at(i), at(j)); got != minutes(cum[j]-cum[i]) {
			fail("Between(%v, %v) = %v, oracle %v", at(i), at(j), got, minutes(cum[j]-cum[i]))
		}
		if cum[j] == cum[i] {
			continue
		}
		// The oracle's due: the first minute mark by which the business time is made up.
		d := cum[j] - cum[i]
		m := i
		for cum[m]-cum[i] < d {
			m++
		}
		checks++
		if got, ok := c.Add(at(i), minutes(d)); !ok || !got.Equal(at(m)) {
			fail("Add(%v, %v) = %v %v, oracle %v", at(i), minutes(d), got, ok, at(m))
		}
	}
	// Off the grid: within a minute the oracle's answer does not change, so a start
	// inside minute i owes the rest of that minute if it is business time.
	for range 2 {
		i, j := r.IntN(n), r.IntN(n+1)
		if i >= j {
			continue
		}
		x := at(i).Add(time.Duration(r.Int64N(int64(time.Minute))))
		want := minutes(cum[j] - cum[i+1])
		if cum[i+1] > cum[i] {
			want += at(i + 1).Sub(x)
		}
		checks++
		if got := c.Between(x, at(j)); got != want {
			fail("Between(%v, %v) = %v, oracle %v", x, at(j), got, want)
		}
		if want == 0 {
			continue
		}
		checks++
		d := time.Duration(r.Int64N(int64(want))) + 1
		due, ok := c.Add(x, d)
		if !ok || c.Between(x, due) != d || c.Between(x, due.Add(-time.Nanosecond)) >= d {
			fail("Add(%v, %v) = %v %v: not the first instant with that much business time", x, d, due, ok)
		}
	}
	return checks
}

func keys(m map[Date]bool) []Date {
	out := make([]Date, 0, len(m))
	for d := range m {
		out = append(out, d)
	}
	return out
}

// randomWeek draws weekly hours: some days off, up to four ranges a day, their ends
// often on the hours where zones change offset (around midnight, 01:00-03:00) or on the
// day's edges, so that gaps and repeats fall inside, at and outside ranges.
func randomWeek(r *rand.Rand) Week {
	marks := []int{0, 0, 30, 60, 60, 90, 120, 150, 180, 1380, 1410, 1440, 1440}
	for {
		var w Week
		busy := false
		for d := range w {
			if r.IntN(4) == 0 {
				continue
			}
			picked := map[int]bool{}
			for range 2 * (1 + r.IntN(4)) {
				if r.IntN(2) == 0 {
					picked[marks[r.IntN(len(marks))]] = true
				} else {
					picked[r.IntN(1441)] = true
				}
			}
			var ends []int
			for m := range 1441 {
				if picked[m] {
					ends = append(ends, m)
				}
			}
			for k := 0; k+1 < len(ends); k += 2 {
				w[d] = append(w[d], Range{time.Duration(ends[k]) * time.Minute, time.Duration(ends[k+1]) * time.Minute})
				busy = true
			}
		}
		if busy {
			return w
		}
	}
}

// randomHolidays draws dates around start (in loc), each a holiday one time in four.
func randomHolidays(r *rand.Rand, loc *time.Location, start time.Time, days int) []Date {
	var out []Date
	y, m, d := start.In(loc).Date()
	for k := -1; k <= days; k++ {
		if r.IntN(4) == 0 {
			t := time.Date(y, m, d+k, 12, 0, 0, 0, time.UTC)
			out = append(out, Date{t.Year(), t.Month(), t.Day()})
		}
	}
	return out
}
