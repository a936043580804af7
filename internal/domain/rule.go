package domain

// Rule is what is evaluated of an automation or an SLA policy: a condition, the actions a
// match carries out (a policy has none: its targets apply to the ticket it matches), and
// the key of this version of it.
type Rule struct {
	// ID and Version name this version of the rule: it is compiled once under them. A draft
	// (a dry run, a backtest, a preview) has neither, and is compiled each time.
	ID        string
	Version   int
	Condition string
	Actions   []AutomationAction
}

// Rule returns the automation's rule.
func (a *Automation) Rule() Rule {
	return Rule{ID: a.ID, Version: a.Version, Condition: a.Condition, Actions: a.Actions}
}

// Rule returns the policy's rule: its condition.
func (p *SLAPolicy) Rule() Rule {
	return Rule{ID: p.ID, Version: p.Version, Condition: p.Condition}
}
