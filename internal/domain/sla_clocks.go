package domain

import "time"

// ClockChange is what an event does to one metric's SLA clock on a ticket: the clock as it
// is to be saved, and the next mark its timer is to be armed for.
type ClockChange struct {
	Metric string
	// Clock is the clock to save; nil drops it (no policy sets a target for the metric).
	Clock *SLAClock
	// Next is the mark the clock's timer is armed for; nil disarms the timer (the clock is
	// dropped, paused, stopped or breached).
	Next *ClockMark
}

// ClockMark is the next mark of a running clock: its warning, then its breach.
type ClockMark struct {
	Type  string // EventSLAWarning or EventSLABreached
	DueAt time.Time
}

// PlanClocks plans what ev does to a ticket's SLA clocks (clocks by metric, as stored;
// policy is the first enabled policy whose condition holds for the ticket now, nil for
// none). The policy sets each metric's target for the ticket's priority; a metric without
// one loses its clock. first_reply stops at the first agent message; resolution runs while
// the ticket is open, pauses while it is pending or on hold, and stops when it is solved
// or closed, running again if it reopens. A clock that stops is achieved. Times are
// business time in the policy's calendar (SLAClock.SetMarks). A running clock that has
// not breached keeps its timer armed for its next mark (SLAClock.NextMark): the warning
// while it has not been warned and is ahead, then the breach. Metrics where nothing is to
// be done are left out.
func PlanClocks(ev *TicketEvent, policy *SLAPolicy, clocks map[string]*SLAClock) []ClockChange {
	var plan []ClockChange
	for _, metric := range SLAMetrics {
		var target time.Duration
		if policy != nil {
			target = policy.Targets[ev.Ticket.Priority].Of(metric)
		}
		switch {
		case target > 0:
			plan = append(plan, planClock(ev, policy, metric, target, clocks[metric]))
		case clocks[metric] != nil:
			plan = append(plan, ClockChange{Metric: metric})
		}
	}
	return plan
}

// planClock plans one metric's clock under policy, given the clock as stored (nil for a
// new one, which has run since the ticket was created). The calendar's arithmetic is
// reached through Between and the clock's SetMarks only.
func planClock(ev *TicketEvent, policy *SLAPolicy, metric string, target time.Duration, stored *SLAClock) ClockChange {
	var c SLAClock
	if stored != nil {
		c = *stored
	} else {
		created := ev.Ticket.CreatedAt
		c = SLAClock{Metric: metric, RunningSince: &created}
	}
	c.PolicyID, c.Target = policy.ID, target
	at := ev.OccurredAt
	running := clockRuns(&c, ev)
	if c.RunningSince != nil && !running { // paused or stopped
		c.Elapsed += policy.Calendar.Between(*c.RunningSince, at)
		c.RunningSince = nil
	}
	if c.RunningSince == nil && running { // resumed
		c.RunningSince = &at
	}
	return marked(c, policy, at)
}

// RedateClock plans the repair of a running clock left without a due date: the marks its
// policy's calendar gives, and its timer armed for its next mark as of now (none once it
// has breached).
func RedateClock(c SLAClock, policy *SLAPolicy, now time.Time) ClockChange {
	return marked(c, policy, now)
}

// marked is the change that saves c with its marks set in policy's calendar and arms its
// timer for its next mark as of at; a clock paused, stopped or breached keeps no timer.
func marked(c SLAClock, policy *SLAPolicy, at time.Time) ClockChange {
	c.SetMarks(policy.Calendar, policy.WarningPercent)
	change := ClockChange{Metric: c.Metric, Clock: &c}
	if c.RunningSince != nil && !c.Breached {
		typ, due := c.NextMark(at)
		change.Next = &ClockMark{Type: typ, DueAt: due}
	}
	return change
}

// clockRuns says whether a clock runs after ev, and records an achievement it brings (or
// takes back, when a resolved ticket reopens).
func clockRuns(c *SLAClock, ev *TicketEvent) bool {
	if c.Metric == SLAFirstReply {
		if c.AchievedAt == nil && ev.Type == EventMessageCreated && ev.Message != nil && ev.Message.Role == RoleAgent {
			at := ev.Message.CreatedAt
			c.AchievedAt = &at
		}
		return c.AchievedAt == nil
	}
	switch ev.Ticket.Status {
	case StatusSolved, StatusClosed:
		if c.AchievedAt == nil {
			at := ev.OccurredAt
			c.AchievedAt = &at
		}
		return false
	case StatusPending, StatusOnHold:
		return false
	}
	c.AchievedAt = nil // reopened
	return true
}
