package domain

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// t0 is when the tickets of the clock tests are created: Friday 27 November 2026, 15:00 in
// Berlin.
var t0 = time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time {
	t := t0.Add(d)
	return &t
}

// shown is a plan as the tests read it: one line a metric, times as offsets from t0.
func shown(plan []ClockChange) string {
	var lines []string
	when := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return "t0+" + t.Sub(t0).String()
	}
	for _, ch := range plan {
		if ch.Clock == nil {
			lines = append(lines, ch.Metric+": dropped")
			continue
		}
		c := ch.Clock
		line := fmt.Sprintf("%s: %s target %s elapsed %s running %s due %s warning %s achieved %s", ch.Metric, c.PolicyID, c.Target, c.Elapsed,
			when(c.RunningSince), when(c.DueAt), when(c.WarningAt), when(c.AchievedAt))
		if ch.Next == nil {
			line += ", disarmed"
		} else {
			line += ", next " + ch.Next.Type + " " + when(&ch.Next.DueAt)
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// TestPlanClocks: what an event does to a ticket's clocks, around the clock and in
// business hours.
func TestPlanClocks(t *testing.T) {
	standard := &SLAPolicy{ID: "slp_std", WarningPercent: 75, Targets: map[string]SLATarget{
		PriorityNormal: {FirstReply: time.Hour, Resolution: 4 * time.Hour},
		PriorityHigh:   {FirstReply: 2 * time.Hour}}}
	day := []HoursRange{{Start: "09:00", End: "12:00"}, {Start: "13:00", End: "17:00"}}
	berlin := &BusinessCalendar{TimeZone: "Europe/Berlin", Weekly: map[string][]HoursRange{
		"monday": day, "tuesday": day, "wednesday": day, "thursday": day, "friday": day}}
	if err := berlin.Check(); err != nil {
		t.Fatal(err)
	}
	office := &SLAPolicy{ID: "slp_office", WarningPercent: 75, Calendar: berlin, Targets: standard.Targets}
	vip := &SLAPolicy{ID: "slp_vip", WarningPercent: 50, Targets: map[string]SLATarget{PriorityNormal: {Resolution: 2 * time.Hour}}}

	running := func(metric string, since time.Duration) *SLAClock {
		return &SLAClock{Metric: metric, PolicyID: "slp_std", Target: time.Hour, RunningSince: at(since)}
	}
	paused := func(metric string, elapsed time.Duration) *SLAClock {
		return &SLAClock{Metric: metric, PolicyID: "slp_std", Target: 4 * time.Hour, Elapsed: elapsed}
	}
	with := func(c *SLAClock, change func(c *SLAClock)) *SLAClock { change(c); return c }
	resolution := func(c *SLAClock) map[string]*SLAClock { return map[string]*SLAClock{SLAResolution: c} }
	firstReply := func(c *SLAClock) map[string]*SLAClock { return map[string]*SLAClock{SLAFirstReply: c} }

	// Around the clock under the standard policy, each line reads: the clock saved (its
	// times after t0) and what becomes of its timer.
	const (
		frNew  = "first_reply: slp_std target 1h0m0s elapsed 0s running t0+0s due t0+1h0m0s warning t0+45m0s achieved -, next sla.warning t0+45m0s"
		resNew = "resolution: slp_std target 4h0m0s elapsed 0s running t0+0s due t0+4h0m0s warning t0+3h0m0s achieved -, next sla.warning t0+3h0m0s"
		frDone = "first_reply: slp_std target 1h0m0s elapsed 20m0s running - due - warning - achieved t0+20m0s, disarmed"
	)
	for _, tc := range []struct {
		name   string
		only   string        // the metric the case is about; "" for both
		typ    string        // the event's; ticket.updated when empty
		after  time.Duration // when it happens, after t0
		status string        // the ticket's; open when empty
		prio   string        // the ticket's; normal when empty
		role   string        // a message.created's
		policy *SLAPolicy
		clocks map[string]*SLAClock
		want   string
	}{
		{name: "a new ticket starts its clocks at its creation", typ: EventTicketCreated, after: 10 * time.Minute, policy: standard,
			want: frNew + "\n" + resNew},
		{name: "a user's message changes nothing", only: SLAFirstReply, typ: EventMessageCreated, role: RoleUser, after: 10 * time.Minute,
			policy: standard, clocks: firstReply(running(SLAFirstReply, 0)), want: frNew},
		{name: "the first agent message achieves the first reply", only: SLAFirstReply, typ: EventMessageCreated, role: RoleAgent,
			after: 20 * time.Minute, policy: standard, clocks: firstReply(running(SLAFirstReply, 0)), want: frDone},
		{name: "a note is not a reply", only: SLAFirstReply, typ: EventMessageCreated, role: RoleNote, after: 20 * time.Minute,
			policy: standard, clocks: firstReply(running(SLAFirstReply, 0)), want: frNew},
		{name: "an achieved first reply stays achieved", only: SLAFirstReply, typ: EventMessageCreated, role: RoleAgent, after: 2 * time.Hour,
			policy: standard, clocks: firstReply(&SLAClock{Metric: SLAFirstReply, Elapsed: 20 * time.Minute, AchievedAt: at(20 * time.Minute)}), want: frDone},
		{name: "pending pauses the resolution", only: SLAResolution, status: StatusPending, after: 30 * time.Minute, policy: standard,
			clocks: resolution(running(SLAResolution, 0)),
			want:   "resolution: slp_std target 4h0m0s elapsed 30m0s running - due - warning - achieved -, disarmed"},
		{name: "on hold stays paused", only: SLAResolution, status: StatusOnHold, after: time.Hour, policy: standard,
			clocks: resolution(paused(SLAResolution, 30*time.Minute)),
			want:   "resolution: slp_std target 4h0m0s elapsed 30m0s running - due - warning - achieved -, disarmed"},
		{name: "open again resumes with what is left", only: SLAResolution, after: 72 * time.Hour, policy: standard,
			clocks: resolution(paused(SLAResolution, 30*time.Minute)),
			want:   "resolution: slp_std target 4h0m0s elapsed 30m0s running t0+72h0m0s due t0+75h30m0s warning t0+74h30m0s achieved -, next sla.warning t0+74h30m0s"},
		{name: "a warning behind: the next mark is the breach", after: time.Hour, policy: standard,
			want: "first_reply: slp_std target 1h0m0s elapsed 0s running t0+0s due t0+1h0m0s warning t0+45m0s achieved -, next sla.breached t0+1h0m0s\n" +
				"resolution: slp_std target 4h0m0s elapsed 0s running t0+0s due t0+4h0m0s warning t0+3h0m0s achieved -, next sla.warning t0+3h0m0s"},
		{name: "warned: the next mark is the breach", only: SLAResolution, after: time.Hour, policy: standard,
			clocks: resolution(with(running(SLAResolution, 0), func(c *SLAClock) { c.Warned = true })),
			want:   "resolution: slp_std target 4h0m0s elapsed 0s running t0+0s due t0+4h0m0s warning t0+3h0m0s achieved -, next sla.breached t0+4h0m0s"},
		{name: "breached: no timer, the clock runs on", only: SLAResolution, after: 5 * time.Hour, policy: standard,
			clocks: resolution(with(running(SLAResolution, 0), func(c *SLAClock) { c.Breached, c.BreachedAt = true, at(4*time.Hour) })),
			want:   "resolution: slp_std target 4h0m0s elapsed 0s running t0+0s due t0+4h0m0s warning t0+3h0m0s achieved -, disarmed"},
		{name: "solved achieves and stops the resolution", only: SLAResolution, status: StatusSolved, after: 2 * time.Hour, policy: standard,
			clocks: resolution(running(SLAResolution, 0)),
			want:   "resolution: slp_std target 4h0m0s elapsed 2h0m0s running - due - warning - achieved t0+2h0m0s, disarmed"},
		{name: "closed after solved keeps the first achievement", only: SLAResolution, status: StatusClosed, after: 3 * time.Hour, policy: standard,
			clocks: resolution(with(paused(SLAResolution, 2*time.Hour), func(c *SLAClock) { c.AchievedAt = at(2 * time.Hour) })),
			want:   "resolution: slp_std target 4h0m0s elapsed 2h0m0s running - due - warning - achieved t0+2h0m0s, disarmed"},
		{name: "reopened takes the achievement back; past the target it is due at once", only: SLAResolution, after: 5 * time.Hour, policy: standard,
			clocks: resolution(with(paused(SLAResolution, 5*time.Hour), func(c *SLAClock) { c.AchievedAt = at(5 * time.Hour) })),
			want:   "resolution: slp_std target 4h0m0s elapsed 5h0m0s running t0+5h0m0s due t0+5h0m0s warning - achieved -, next sla.breached t0+5h0m0s"},
		{name: "a priority without a resolution target drops that clock", prio: PriorityHigh, after: time.Hour, policy: standard,
			clocks: map[string]*SLAClock{SLAFirstReply: running(SLAFirstReply, 0), SLAResolution: running(SLAResolution, 0)},
			want: "first_reply: slp_std target 2h0m0s elapsed 0s running t0+0s due t0+2h0m0s warning t0+1h30m0s achieved -, next sla.warning t0+1h30m0s\n" +
				"resolution: dropped"},
		{name: "another policy takes over with its targets", after: time.Hour, policy: vip,
			clocks: map[string]*SLAClock{SLAFirstReply: running(SLAFirstReply, 0), SLAResolution: running(SLAResolution, 0)},
			want:   "first_reply: dropped\nresolution: slp_vip target 2h0m0s elapsed 0s running t0+0s due t0+2h0m0s warning t0+1h0m0s achieved -, next sla.breached t0+2h0m0s"},
		{name: "no policy drops every clock", after: time.Hour,
			clocks: map[string]*SLAClock{SLAFirstReply: running(SLAFirstReply, 0), SLAResolution: paused(SLAResolution, 0)},
			want:   "first_reply: dropped\nresolution: dropped"},
		{name: "no policy, no clocks: nothing to do", after: time.Hour, want: ""},
		// Berlin office hours, 09:00-12:00 and 13:00-17:00 on weekdays: created Friday
		// 15:00, the resolution has two hours on Friday and two on Monday, lunch skipped.
		{name: "business hours: due after the weekend", typ: EventTicketCreated, policy: office,
			want: "first_reply: slp_office target 1h0m0s elapsed 0s running t0+0s due t0+1h0m0s warning t0+45m0s achieved -, next sla.warning t0+45m0s\n" +
				"resolution: slp_office target 4h0m0s elapsed 0s running t0+0s due t0+68h0m0s warning t0+67h0m0s achieved -, next sla.warning t0+67h0m0s"},
		{name: "business hours: pending over the weekend counts only Friday", only: SLAResolution, status: StatusPending, after: 66 * time.Hour,
			policy: office, clocks: resolution(running(SLAResolution, 0)),
			want: "resolution: slp_office target 4h0m0s elapsed 2h0m0s running - due - warning - achieved -, disarmed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &TicketEvent{Type: EventTicketUpdated, OccurredAt: t0.Add(tc.after), Ticket: Ticket{Status: StatusOpen, Priority: PriorityNormal, CreatedAt: t0}}
			if tc.typ != "" {
				ev.Type = tc.typ
			}
			if tc.status != "" {
				ev.Ticket.Status = tc.status
			}
			if tc.prio != "" {
				ev.Ticket.Priority = tc.prio
			}
			if tc.role != "" {
				ev.Message = &Message{Role: tc.role, CreatedAt: ev.OccurredAt}
			}
			stored := cloneClocks(tc.clocks)
			plan := PlanClocks(ev, tc.policy, tc.clocks)
			if tc.only != "" {
				plan = slices.DeleteFunc(plan, func(ch ClockChange) bool { return ch.Metric != tc.only })
			}
			if got := shown(plan); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			if !reflect.DeepEqual(tc.clocks, stored) {
				t.Error("the plan changed the stored clocks")
			}
		})
	}
}

func cloneClocks(clocks map[string]*SLAClock) map[string]*SLAClock {
	if clocks == nil {
		return nil
	}
	out := map[string]*SLAClock{}
	for m, c := range clocks {
		cc := *c
		for _, p := range []**time.Time{&cc.RunningSince, &cc.DueAt, &cc.WarningAt, &cc.BreachedAt, &cc.AchievedAt} {
			if *p != nil {
				t := **p
				*p = &t
			}
		}
		out[m] = &cc
	}
	return out
}

// TestRedateClock: a running clock left without a due date gets the marks its policy's
// calendar gives and a timer for its next mark; a breached one gets no timer.
func TestRedateClock(t *testing.T) {
	policy := &SLAPolicy{ID: "slp_std", WarningPercent: 75}
	undated := SLAClock{Metric: SLAResolution, PolicyID: "slp_std", Target: 4 * time.Hour, Elapsed: time.Hour, RunningSince: at(0)}
	for _, tc := range []struct {
		name  string
		clock func(c *SLAClock)
		now   time.Duration
		want  string
	}{
		{"the warning ahead", func(*SLAClock) {}, time.Minute,
			"resolution: slp_std target 4h0m0s elapsed 1h0m0s running t0+0s due t0+3h0m0s warning t0+2h0m0s achieved -, next sla.warning t0+2h0m0s"},
		{"the warning behind", func(*SLAClock) {}, 150 * time.Minute,
			"resolution: slp_std target 4h0m0s elapsed 1h0m0s running t0+0s due t0+3h0m0s warning t0+2h0m0s achieved -, next sla.breached t0+3h0m0s"},
		{"breached", func(c *SLAClock) { c.Breached = true }, time.Minute,
			"resolution: slp_std target 4h0m0s elapsed 1h0m0s running t0+0s due t0+3h0m0s warning t0+2h0m0s achieved -, disarmed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := undated
			tc.clock(&c)
			if got := shown([]ClockChange{RedateClock(c, policy, t0.Add(tc.now))}); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
