package rules

import (
	"errors"
	"fmt"

	"github.com/expr-lang/expr/vm"

	"github.com/threada/threada/internal/domain"
)

// Detail says what an evaluation produces beside whether the condition holds.
type Detail int

// Details of an evaluation.
const (
	// MatchOnly evaluates the condition alone (an SLA policy, a count).
	MatchOnly Detail = iota
	// Explained also renders a match's actions, and explains the condition whether it held
	// or not (the engine, a dry run).
	Explained
	// ExplainedIfMatched renders and explains a match only (a backtest's samples).
	ExplainedIfMatched
)

// Evaluation is what one evaluation of a rule against an event found.
type Evaluation struct {
	Matched bool
	// Err is what stopped the condition (then Matched is false): a runtime error, or a
	// budget (ErrBudget, ErrTooSlow, ErrEventBudget).
	Err error
	// Actions are a match's actions with their templates filled in, each with the error
	// that stopped it, if one did.
	Actions []Rendered
	// BudgetErr is the budget error that stopped rendering the actions, if one did: then
	// none of them is to be carried out.
	BudgetErr error
	// Explanation says why the condition held or not; nil when not asked for, or when the
	// event's budget, not the rule, stopped it.
	Explanation *domain.Explanation
}

// Error returns what stopped the rule: its condition's error or its actions' budget error.
func (e *Evaluation) Error() error {
	if e.Err != nil {
		return e.Err
	}
	return e.BudgetErr
}

// Machine is what evaluations reuse: a goroutine that evaluates many rules keeps one,
// which saves the allocations of expr's virtual machine. The zero value is ready to use.
type Machine struct {
	vm vm.VM
}

// Evaluate evaluates the rule against env on m: the condition, then as detail asks the
// actions of a match and the explanation, in that order and under one budget, the rule's
// share of env's event budget. The engine, the SLA policies, the dry run, the backtest and
// the SLA preview all evaluate rules through it.
func (c *Compiled) Evaluate(m *Machine, env *Env, detail Detail) Evaluation {
	machine := &m.vm
	var out Evaluation
	out.Matched, out.Err = c.matchOn(machine, env)
	if detail == MatchOnly || detail == ExplainedIfMatched && !out.Matched {
		return out
	}
	if out.Matched {
		out.Actions = c.renderActions(env)
		out.BudgetErr = budgetErrOf(out.Actions)
	}
	if !errors.Is(out.Error(), ErrEventBudget) {
		out.Explanation = c.explainOn(machine, env)
	}
	return out
}

// Sample renders the actions against env as if the condition held: the check at save
// renders them for a sample ticket, whatever the condition makes of it.
func (c *Compiled) Sample(env *Env) []Rendered {
	return c.renderActions(env)
}

// matchOn evaluates the condition. It starts the rule's evaluation budget, which the
// templates rendered and the explanation after it share.
func (c *Compiled) matchOn(machine *vm.VM, env *Env) (bool, error) {
	if err := env.budget.eventLeft(); err != nil {
		return false, fmt.Errorf("condition: %w", err)
	}
	env.budget.reset()
	defer env.budget.stop()
	machine.MemoryBudget = collectionBudget
	v, err := machine.Run(c.condition, env)
	if err != nil {
		return false, budgetError("condition", err)
	}
	b, _ := v.(bool)
	return b, nil
}

// Rendered is an action with its templates filled in.
type Rendered struct {
	Spec    domain.AutomationAction  // as configured
	HTTP    domain.CustomHTTPPayload // custom_http: the payload to run
	Content string                   // add_note: the note
	Err     error                    // why it could not be rendered
}

// renderActions fills in every action's templates.
func (c *Compiled) renderActions(env *Env) []Rendered {
	env.budget.start()
	defer env.budget.stop()
	out := make([]Rendered, len(c.actions))
	for i, ca := range c.actions {
		r := Rendered{Spec: ca.spec}
		switch ca.spec.Type {
		case domain.AutomationCustomHTTP:
			r.HTTP = ca.spec.Payload()
			r.HTTP.URL, r.Err = renderInto(r.Err, ca.url, env)
			r.HTTP.BodyJSON, r.Err = renderInto(r.Err, ca.body, env)
			if len(ca.headers) > 0 {
				r.HTTP.Headers = map[string]string{}
				for name, t := range ca.headers {
					r.HTTP.Headers[name], r.Err = renderInto(r.Err, t, env)
				}
			}
		case domain.AutomationAddNote:
			r.Content, r.Err = renderInto(r.Err, ca.content, env)
		}
		out[i] = r
	}
	return out
}

// renderInto renders t unless an earlier error stopped the action.
func renderInto(prev error, t *Template, env *Env) (string, error) {
	if prev != nil {
		return "", prev
	}
	return t.Render(env)
}

// budgetErrOf returns the budget error (the rule's or the event's) that stopped rendering
// a rule's actions, if one did.
func budgetErrOf(rendered []Rendered) error {
	for _, r := range rendered {
		if errors.Is(r.Err, ErrBudget) || errors.Is(r.Err, ErrTooSlow) || errors.Is(r.Err, ErrEventBudget) {
			return r.Err
		}
	}
	return nil
}
