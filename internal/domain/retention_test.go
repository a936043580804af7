package domain

import (
	"testing"
	"time"
)

func TestRetentionDaysAndCutoffs(t *testing.T) {
	now := time.Date(2026, 3, 29, 12, 0, 0, 0, time.UTC) // across a DST change elsewhere: UTC days
	custom := Retention{RetainAttempts: 7, RetainClosedTickets: 30}
	for _, c := range []struct {
		r      Retention
		kind   RetentionKind
		days   int
		cutoff string // "" when kept until deleted
	}{
		{nil, RetainAttempts, 90, "2025-12-29T12:00:00Z"},
		{nil, RetainRuns, 90, "2025-12-29T12:00:00Z"},
		{nil, RetainResponseBodies, 30, "2026-02-27T12:00:00Z"},
		{nil, RetainAudit, 400, "2025-02-22T12:00:00Z"},
		{nil, RetainClosedTickets, 0, ""},
		{custom, RetainAttempts, 7, "2026-03-22T12:00:00Z"},
		{custom, RetainRuns, 90, "2025-12-29T12:00:00Z"},
		{custom, RetainClosedTickets, 30, "2026-02-27T12:00:00Z"},
	} {
		if got := c.r.Days(c.kind); got != c.days {
			t.Errorf("%v %s: %d days, want %d", c.r, c.kind, got, c.days)
		}
		cut, ok := c.r.Cutoff(c.kind, now)
		if got := map[bool]string{true: cut.Format(time.RFC3339), false: ""}[ok]; got != c.cutoff {
			t.Errorf("%v %s: cutoff %q, want %q", c.r, c.kind, got, c.cutoff)
		}
	}
	for _, c := range []struct {
		kind RetentionKind
		days int
		ok   bool
	}{
		{RetainAttempts, 7, true}, {RetainAttempts, 6, false}, {RetainAttempts, 3650, true}, {RetainAttempts, 3651, false},
		{RetainAudit, 89, false}, {RetainAudit, 90, true}, {RetainClosedTickets, 1, true}, {RetainClosedTickets, 0, false},
		{"tickets", 30, false},
	} {
		if err := CheckRetentionDays(c.kind, c.days); (err == nil) != c.ok {
			t.Errorf("%s %d: %v", c.kind, c.days, err)
		}
	}
}
