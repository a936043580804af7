package domain

import (
	"net/url"
	"strings"
	"time"
)

// The destination state machine: how many attempts may be in flight to a destination of a
// tenant, and its circuit breaker. It is written down here, pure; the store applies it in
// the statements that start and record attempts (store/destinations.go), and a property
// test holds the two to the same answers.
//
//	closed --CircuitFailures consecutive failed attempts--> open
//	open   --an attempt that got an answer (the probe's)--> closed
//
// While open, one attempt every CircuitProbeInterval goes through (the probe); the others
// wait for it. Whatever the state, at most a limit of attempts are in flight at once; an
// attempt that finds none free waits in the destination's line.

// Circuit is a destination's state as the breaker sees it.
type Circuit struct {
	State               string // DestinationClosed or DestinationOpen
	ConsecutiveFailures int
	InFlight            int
	OpenedAt            *time.Time
	NextProbeAt         *time.Time // while open: when the next probe may go
}

// Admit says whether an attempt may start at at with at most limit attempts in flight, and
// the state once it has: one more in flight and, for an open circuit's probe, the next
// probe a CircuitProbeInterval later.
func (c Circuit) Admit(at time.Time, limit int) (Circuit, bool) {
	if c.InFlight >= limit {
		return c, false
	}
	if c.State == DestinationOpen {
		if c.NextProbeAt == nil || c.NextProbeAt.After(at) {
			return c, false
		}
		next := at.Add(CircuitProbeInterval)
		c.NextProbeAt = &next
	}
	c.InFlight++
	return c, true
}

// Record is the state once an attempt's outcome is recorded (the first time only: a
// second record of the same outcome changes nothing): its slot is given back if it held
// one; a failure (network error, timeout, 5xx) counts one more consecutive failure and
// opens the circuit at CircuitFailures, with a first probe CircuitProbeInterval later; an
// answer resets the count and closes it. changed says the circuit opened or closed.
func (c Circuit) Record(failed, heldSlot bool, at time.Time) (next Circuit, changed bool) {
	if heldSlot && c.InFlight > 0 {
		c.InFlight--
	}
	if !failed {
		changed = c.State == DestinationOpen
		c.State, c.ConsecutiveFailures, c.OpenedAt, c.NextProbeAt = DestinationClosed, 0, nil, nil
		return c, changed
	}
	c.ConsecutiveFailures++
	if c.State != DestinationOpen && c.ConsecutiveFailures >= CircuitFailures {
		probe := at.Add(CircuitProbeInterval)
		c.State, c.OpenedAt, c.NextProbeAt, changed = DestinationOpen, &at, &probe, true
	}
	return c, changed
}

// Circuit breaking of destinations.
const (
	CircuitFailures   = 10 // consecutive failed attempts that open a destination's circuit
	DestinationClosed = "closed"
	DestinationOpen   = "open"
)

// CircuitProbeInterval is how often, while a destination's circuit is open, one probe
// attempt goes through. A variable only so that tests can shorten it.
var CircuitProbeInterval = 30 * time.Second

// DestinationLineWait is how long an attempt waiting in its destination's line (the
// destination has its limit of attempts in flight) waits for the attempt that gives a slot
// back to wake it, before it asks again anyway: a wake lost with a worker costs this much.
const DestinationLineWait = 30 * time.Second

// Destination names where an action's calls go: scheme://host:port, lower case, with the
// scheme's default port when the URL has none ("" for a URL that is not absolute).
func Destination(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" || u.Hostname() == "" {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// DestinationHealth is a destination of a tenant as the circuit breaker sees it, with its
// figures over the last 5 minutes.
type DestinationHealth struct {
	Destination         string
	State               string
	ConsecutiveFailures int
	OpenedAt            *time.Time
	NextProbeAt         *time.Time
	LastAttemptAt       time.Time
	Attempts            int      // completed in the last 5 minutes
	Succeeded           int      // of those
	P50LatencyMS        *float64 // of those with a response
}
