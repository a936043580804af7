package domain

import (
	"testing"
	"time"
)

func TestCircuit(t *testing.T) {
	t0 := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	later := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
	open := Circuit{State: DestinationOpen, ConsecutiveFailures: CircuitFailures, OpenedAt: &t0, NextProbeAt: later(CircuitProbeInterval)}
	for _, tc := range []struct {
		name  string
		from  Circuit
		admit bool // else record
		at    time.Duration
		limit int
		fail  bool
		held  bool
		want  Circuit
		ok    bool // admitted, or changed
	}{
		{name: "closed with room admits", from: Circuit{State: DestinationClosed}, admit: true, limit: 2,
			want: Circuit{State: DestinationClosed, InFlight: 1}, ok: true},
		{name: "closed and full waits", from: Circuit{State: DestinationClosed, InFlight: 2}, admit: true, limit: 2,
			want: Circuit{State: DestinationClosed, InFlight: 2}},
		{name: "open before the probe waits", from: open, admit: true, at: time.Second, limit: 2, want: open},
		{name: "open at the probe admits one and moves the probe", from: open, admit: true, at: CircuitProbeInterval, limit: 2,
			want: Circuit{State: DestinationOpen, ConsecutiveFailures: CircuitFailures, InFlight: 1, OpenedAt: &t0, NextProbeAt: later(2 * CircuitProbeInterval)}, ok: true},
		{name: "open and full waits even at the probe", from: Circuit{State: DestinationOpen, InFlight: 1, NextProbeAt: &t0}, admit: true, limit: 1,
			want: Circuit{State: DestinationOpen, InFlight: 1, NextProbeAt: &t0}},
		{name: "a failure counts", from: Circuit{State: DestinationClosed, ConsecutiveFailures: 3, InFlight: 1}, fail: true, held: true,
			want: Circuit{State: DestinationClosed, ConsecutiveFailures: 4}},
		{name: "the last failure opens", from: Circuit{State: DestinationClosed, ConsecutiveFailures: CircuitFailures - 1, InFlight: 1}, at: time.Minute, fail: true, held: true,
			want: Circuit{State: DestinationOpen, ConsecutiveFailures: CircuitFailures, OpenedAt: later(time.Minute), NextProbeAt: later(time.Minute + CircuitProbeInterval)}, ok: true},
		{name: "a failed probe keeps it open", from: open, fail: true, held: true,
			want: Circuit{State: DestinationOpen, ConsecutiveFailures: CircuitFailures + 1, OpenedAt: &t0, NextProbeAt: later(CircuitProbeInterval)}},
		{name: "an answer closes", from: open, held: true, want: Circuit{State: DestinationClosed}, ok: true},
		{name: "an answer resets the count", from: Circuit{State: DestinationClosed, ConsecutiveFailures: 4, InFlight: 2}, held: true,
			want: Circuit{State: DestinationClosed, InFlight: 1}},
		{name: "an outcome that held no slot gives none back", from: Circuit{State: DestinationClosed, InFlight: 2}, fail: true,
			want: Circuit{State: DestinationClosed, ConsecutiveFailures: 1, InFlight: 2}},
		{name: "never below zero in flight", from: Circuit{State: DestinationClosed}, held: true, want: Circuit{State: DestinationClosed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got Circuit
			var ok bool
			if tc.admit {
				got, ok = tc.from.Admit(t0.Add(tc.at), tc.limit)
			} else {
				got, ok = tc.from.Record(tc.fail, tc.held, t0.Add(tc.at))
			}
			if !sameCircuit(got, tc.want) || ok != tc.ok {
				t.Errorf("got %+v %v, want %+v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func sameCircuit(a, b Circuit) bool {
	eq := func(x, y *time.Time) bool { return (x == nil) == (y == nil) && (x == nil || x.Equal(*y)) }
	return a.State == b.State && a.ConsecutiveFailures == b.ConsecutiveFailures && a.InFlight == b.InFlight &&
		eq(a.OpenedAt, b.OpenedAt) && eq(a.NextProbeAt, b.NextProbeAt)
}
