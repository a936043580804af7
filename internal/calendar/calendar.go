// Package calendar does business-time arithmetic: how much business time lies between
// two instants, and which instant a given amount of it after a start ends, for weekly
// hours in an IANA time zone less holiday dates.
//
// An instant is business time when its wall clock in the zone falls in one of the ranges
// of its weekday and its date is not a holiday. Everything follows from that definition,
// with no time-zone special case: a range that a daylight-saving gap skips is shorter by
// the gap (or gone, with a day a zone skips whole, like Pacific/Apia's 2011-12-30), a
// range over a repeated hour is longer by the repeat (the wall clock shows those times
// twice, so the instants that cover them count twice), a day whose midnight does not
// exist starts when its first wall-clock time does.
//
// The arithmetic never walks days. It walks the zone's periods (the spans between two
// changes of UTC offset, found with time.Time.ZoneBounds), and within one period the
// wall clock is the instant plus a constant, so the business time between two wall-clock
// times is a difference of one counting function of the civil timeline: whole weeks times
// the weekly hours, plus the partial week, less what holidays before it took out (a
// binary search). Its cost depends on the number of offset changes crossed (a couple a
// year where daylight saving is kept, none in most zones), never on the amount of
// business time nor on how thin the calendar is; Add looks at most Horizon ahead.
package calendar

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
	// Every binary that computes business time carries the same tz database, the one the
	// property test checked, instead of whatever its machine or image has installed: an API
	// and a worker on different hosts must agree on a due date.
	_ "time/tzdata"
)

// Horizon is how far after its start Add looks for the end of the business time asked
// for: 1,560 weeks, about 30 years.
const Horizon = 1560 * 7 * 24 * time.Hour

const horizonSeconds = int64(Horizon / time.Second)

// Range is a span of a day's business hours, [Start, End) measured from the wall-clock
// midnight that begins the day, in whole seconds with 0 <= Start < End <= 24h.
type Range struct {
	Start, End time.Duration
}

// Week holds each weekday's ranges, indexed by time.Weekday (Sunday first).
type Week [7][]Range

// Date is a civil date, as on a wall calendar: no zone, no time of day.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate reads a date written "2006-01-02".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, err
	}
	y, m, d := t.Date()
	return Date{y, m, d}, nil
}

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// dayNumber is the date's day counted from 1970-01-01 (day 0): UTC has no offset
// changes, so its midnights are exact multiples of a day.
func (d Date) dayNumber() (int64, bool) {
	t := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
	y, m, dd := t.Date()
	return floorDiv(t.Unix(), secondsPerDay), y == d.Year && m == d.Month && dd == d.Day
}

// Calendar is weekly business hours in a time zone less holidays, ready for arithmetic.
// It is immutable and safe for concurrent use.
type Calendar struct {
	loc *time.Location
	civil
}

// New returns the calendar of week in loc less the holidays (dates in loc; repeats are
// harmless). It refuses ranges out of a day, overlapping or not in whole seconds, and a
// week without business time.
func New(loc *time.Location, week Week, holidays []Date) (*Calendar, error) {
	if loc == nil {
		return nil, errors.New("calendar: no time zone")
	}
	c := &Calendar{loc: loc}
	for day, ranges := range week {
		spans := make([]span, 0, len(ranges))
		for _, r := range ranges {
			if r.Start < 0 || r.End > 24*time.Hour || r.Start >= r.End || r.Start%time.Second != 0 || r.End%time.Second != 0 {
				return nil, fmt.Errorf("calendar: %v: range %v-%v is not within a day in whole seconds", time.Weekday(day), r.Start, r.End)
			}
			spans = append(spans, span{int64(r.Start / time.Second), int64(r.End / time.Second)})
		}
		slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.start, b.start) })
		for i := 1; i < len(spans); i++ {
			if spans[i].start < spans[i-1].end {
				return nil, fmt.Errorf("calendar: %v: ranges overlap", time.Weekday(day))
			}
		}
		c.days[day] = spans
	}
	days := make([]int64, 0, len(holidays))
	for _, h := range holidays {
		n, ok := h.dayNumber()
		if !ok {
			return nil, fmt.Errorf("calendar: holiday %v is not a date", h)
		}
		days = append(days, n)
	}
	slices.Sort(days)
	c.prepare(slices.Compact(days))
	if c.weekly == 0 {
		return nil, errors.New("calendar: no business time in the week")
	}
	return c, nil
}

// Between returns the business time in [a, b), 0 if b is not after a (at most the
// largest time.Duration, some 292 years).
func (c *Calendar) Between(a, b time.Time) time.Duration {
	if !b.After(a) {
		return 0
	}
	sa, sb := a.Unix(), b.Unix()
	whole := c.seconds(sa, sb)
	if whole >= math.MaxInt64/int64(time.Second)-1 {
		return math.MaxInt64
	}
	// Offsets and ranges are whole seconds, so each second of the timeline is business
	// time throughout or not at all: count whole seconds, then take off the part of a's
	// second before a and add the part of b's second before b.
	return time.Duration(whole)*time.Second - c.partial(sa, a.Nanosecond()) + c.partial(sb, b.Nanosecond())
}

// Add returns the earliest instant at which d of business time has passed since start
// (start itself when d is not positive). ok is false when that lies more than Horizon
// after start.
func (c *Calendar) Add(start time.Time, d time.Duration) (due time.Time, ok bool) {
	if d <= 0 {
		return start, true
	}
	if d > Horizon {
		return time.Time{}, false // business time never runs faster than time
	}
	s := start.Unix()
	// Count from the whole second s: the part of it before start, if business, is owed.
	need := d + c.partial(s, start.Nanosecond())
	k, frac := int64(need/time.Second), need%time.Second
	if frac > 0 {
		k++ // the end falls inside the k-th business second
	}
	u, ok := c.reach(s, k)
	switch {
	case !ok:
		return time.Time{}, false
	case frac > 0:
		return time.Unix(u-1, int64(frac)).UTC(), true
	default:
		return time.Unix(u, 0).UTC(), true
	}
}

// WorstCase bounds from above the time it can take any start to gather d of business
// time, counting wall-clock time (daylight-saving gaps aside): the rest of the start's
// week, then whole weeks of the weekly hours until they make up d and everything the
// holidays take out.
func (c *Calendar) WorstCase(d time.Duration) time.Duration {
	need := (int64(d)+int64(time.Second)-1)/int64(time.Second) + c.lost[len(c.lost)-1]
	weeks := 1 + (need+c.weekly-1)/c.weekly
	if weeks > math.MaxInt64/int64(7*24*time.Hour) {
		return math.MaxInt64
	}
	return time.Duration(weeks) * 7 * 24 * time.Hour
}

// period returns the UTC offset in force at the instant s (Unix seconds) and the instant
// its period ends, math.MaxInt64 if it never does.
func (c *Calendar) period(s int64) (offset, end int64) {
	off, e := c.zone(s)
	if e.IsZero() {
		return off, math.MaxInt64
	}
	if e.Unix() > s {
		return off, e.Unix()
	}
	// Past a zone's table of changes Go computes the periods of its daylight-saving rule
	// year by year, and ends a leap year's last period on December 31 (UTC) instead of
	// January 1: ZoneBounds then answers an end that is not after s for that day
	// (golang/go#81583). The offset it gives is right; find where it changes by bisection,
	// an hour at a time (no zone changes its offset twice within an hour).
	lo, hi := s, s+3600
	if o, _ := c.zone(hi); o == off {
		return off, hi
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if o, _ := c.zone(mid); o == off {
			lo = mid
		} else {
			hi = mid
		}
	}
	return off, hi
}

// zone returns the UTC offset in force at the instant s and ZoneBounds' end of its period.
func (c *Calendar) zone(s int64) (offset int64, end time.Time) {
	t := time.Unix(s, 0).In(c.loc)
	_, off := t.Zone()
	_, end = t.ZoneBounds()
	return int64(off), end
}

// seconds returns the business seconds in the instants [sa, sb) (Unix seconds), one
// difference of counts per zone period crossed.
func (c *Calendar) seconds(sa, sb int64) int64 {
	var n int64
	for s := sa; s < sb; {
		off, end := c.period(s)
		stop := min(end, sb)
		n += c.count(stop+off) - c.count(s+off)
		s = stop
	}
	return n
}

// partial returns the first ns nanoseconds of second s if that second is business time.
func (c *Calendar) partial(s int64, ns int) time.Duration {
	if ns == 0 {
		return 0
	}
	off, _ := c.period(s)
	if c.count(s+off+1) == c.count(s+off) {
		return 0
	}
	return time.Duration(ns)
}

// reach returns the first instant u (Unix seconds) such that [s, u) holds k >= 1 business
// seconds, if it comes within Horizon of s.
func (c *Calendar) reach(s, k int64) (int64, bool) {
	limit := s + horizonSeconds
	for cur := s; cur < limit; {
		off, end := c.period(cur)
		stop := min(end, limit)
		from := c.count(cur + off)
		if got := c.count(stop+off) - from; got < k {
			k -= got
			cur = stop
			continue
		}
		// The count rises by at most one a second: the smallest wall-clock second x with
		// count(x) - from >= k has it equal to k, and x - off is the instant.
		lo, hi := cur+off, stop+off
		for hi-lo > 1 {
			mid := lo + (hi-lo)/2
			if c.count(mid)-from >= k {
				hi = mid
			} else {
				lo = mid
			}
		}
		return hi - off, true
	}
	return 0, false
}
