package calendar

import "slices"

// The civil timeline: wall-clock seconds counted from 1970-01-01 00:00 as if there were
// no zone (a Unix time plus the UTC offset in force). On it every day is 86,400 seconds
// and weeks repeat exactly; the zone only matters when instants are mapped onto it.
const (
	secondsPerDay = 86400
	// firstSunday is the day number of 1970-01-04, the first Sunday of the timeline:
	// weeks are counted from it, Sunday first like time.Weekday.
	firstSunday = 3
)

// span is a business range of a day in seconds from midnight, [start, end).
type span struct{ start, end int64 }

// civil is a calendar's weekly hours and holidays on the civil timeline.
type civil struct {
	days   [7][]span // by weekday, sorted, disjoint
	before [7]int64  // business seconds of the week before each weekday
	weekly int64     // business seconds of a week without holidays
	// holidays are day numbers, ascending and distinct; lost[i] is the business time
	// holidays[:i] take out, so lost has one more element.
	holidays []int64
	lost     []int64
}

// prepare computes the sums once days and holidays are set.
func (c *civil) prepare(holidays []int64) {
	c.weekly = 0
	for d := range c.days {
		c.before[d] = c.weekly
		c.weekly += c.upTo(int64(d), secondsPerDay)
	}
	c.holidays = holidays
	c.lost = make([]int64, len(holidays)+1)
	for i, h := range holidays {
		c.lost[i+1] = c.lost[i] + c.upTo(weekday(h), secondsPerDay)
	}
}

// upTo returns the business seconds of weekday dow before second sod of the day.
func (c *civil) upTo(dow, sod int64) int64 {
	var n int64
	for _, s := range c.days[dow] {
		if sod <= s.start {
			break
		}
		n += min(sod, s.end) - s.start
	}
	return n
}

// count returns the business seconds of the civil timeline from the start of the first
// Sunday (negative before it) up to civil second x: whole weeks, the days of x's week
// before x's day, x's day up to x, less the holidays' share.
func (c *civil) count(x int64) int64 {
	day := floorDiv(x, secondsPerDay)
	sod := x - day*secondsPerDay
	week := floorDiv(day-firstSunday, 7)
	dow := day - firstSunday - 7*week
	today := c.upTo(dow, sod)
	n := week*c.weekly + c.before[dow] + today
	i, holiday := slices.BinarySearch(c.holidays, day)
	n -= c.lost[i]
	if holiday {
		n -= today
	}
	return n
}

// weekday returns the weekday of a day number, Sunday 0.
func weekday(day int64) int64 { return day - firstSunday - 7*floorDiv(day-firstSunday, 7) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
