package domain

import "time"

// RetentionKind is one kind of record a tenant's retention settings bound.
type RetentionKind string

// The kinds, as the settings API names them (retention.<kind>_days).
const (
	RetainAttempts       RetentionKind = "attempts"        // an action's attempt log
	RetainRuns           RetentionKind = "runs"            // rules' runs and their explanations
	RetainResponseBodies RetentionKind = "response_bodies" // receivers' response bodies (status and headers stay)
	RetainAudit          RetentionKind = "audit"           // the audit log
	RetainClosedTickets  RetentionKind = "closed_tickets"  // closed tickets, deleted with everything about them
)

// RetentionKinds are the kinds in the order the API lists them.
var RetentionKinds = []RetentionKind{RetainAttempts, RetainRuns, RetainResponseBodies, RetainAudit, RetainClosedTickets}

// retentionRule is a kind's default and bounds, in days; a default of 0 means "kept until
// deleted" (closed tickets: a deletion schedule is the tenant's choice, as in Zendesk).
type retentionRule struct{ def, min, max int }

var retentionRules = map[RetentionKind]retentionRule{
	RetainAttempts:       {90, 7, 3650},
	RetainRuns:           {90, 7, 3650},
	RetainResponseBodies: {30, 7, 3650},
	RetainAudit:          {400, 90, 3650},
	RetainClosedTickets:  {0, 1, 3650},
}

// Retention is a tenant's overrides, in days; a kind it does not hold takes the default.
type Retention map[RetentionKind]int

// RetentionDefault is kind's default in days (0: kept until deleted) and its bounds.
func RetentionDefault(kind RetentionKind) (def, min, max int) {
	r := retentionRules[kind]
	return r.def, r.min, r.max
}

// Days is how many days kind is kept for the tenant: its override or the default; 0 means
// kept until deleted.
func (r Retention) Days(kind RetentionKind) int {
	if d, ok := r[kind]; ok {
		return d
	}
	return retentionRules[kind].def
}

// Cutoff is the time before which kind's records are past retention at now, and false
// when they are kept until deleted.
func (r Retention) Cutoff(kind RetentionKind, now time.Time) (time.Time, bool) {
	d := r.Days(kind)
	if d <= 0 {
		return time.Time{}, false
	}
	return now.AddDate(0, 0, -d), true
}

// CheckRetentionDays checks an override for kind.
func CheckRetentionDays(kind RetentionKind, days int) error {
	r, ok := retentionRules[kind]
	param := "retention." + string(kind) + "_days"
	if !ok {
		return Invalidf(param, "`%s` is not a retention setting.", param)
	}
	if days < r.min || days > r.max {
		return Invalidf(param, "`%s` must be from %d to %d days, or null for the default; got %d.", param, r.min, r.max, days)
	}
	return nil
}
