package rules

import (
	"errors"
	"slices"
	"testing"

	"github.com/threada/threada/internal/domain"
)

// TestEvaluate: what an evaluation gives for each detail: the match always; a match's
// rendered actions and the explanation when asked for; the condition's error apart from
// the budget error that stopped the actions; no explanation when the event's budget, not
// the rule, stopped it.
func TestEvaluate(t *testing.T) {
	note := domain.AutomationAction{Type: domain.AutomationAddNote, Content: "{{ ticket.priority }}"}
	costly := domain.AutomationAction{Type: domain.AutomationAddNote, Content: `{{ len(1..20000) }}`}
	for _, tc := range []struct {
		name          string
		condition     string
		actions       []domain.AutomationAction
		detail        Detail
		eventSpent    bool // the event's other rules used up its budget
		matched       bool
		err, budget   error // want errors.Is
		errText       string
		rendered      []string // the notes, or the errors that stopped them
		explained     string   // the explanation as text
		noExplanation bool
	}{
		{name: "match only", condition: `ticket.priority == "urgent"`, actions: []domain.AutomationAction{note}, detail: MatchOnly,
			matched: true, noExplanation: true},
		{name: "explained match", condition: `ticket.priority == "urgent"`, actions: []domain.AutomationAction{note}, detail: Explained,
			matched: true, rendered: []string{"urgent"}, explained: `ticket.priority == "urgent" -> true (ticket.priority = "urgent")`},
		{name: "explained miss: no actions", condition: `ticket.priority == "low"`, actions: []domain.AutomationAction{note}, detail: Explained,
			explained: `ticket.priority == "low" -> false (ticket.priority = "urgent")`},
		{name: "explained if matched, missed", condition: `ticket.priority == "low"`, actions: []domain.AutomationAction{note}, detail: ExplainedIfMatched,
			noExplanation: true},
		{name: "explained if matched, matched", condition: `has_tag("vip")`, actions: []domain.AutomationAction{note}, detail: ExplainedIfMatched,
			matched: true, rendered: []string{"urgent"}, explained: `has_tag("vip") -> true (ticket.tags = ["returns","vip"])`},
		{name: "runtime error", condition: `int(ticket.subject) > 0`, actions: []domain.AutomationAction{note}, detail: Explained,
			errText:   "condition: invalid operation: int(Order \"42\" late) (1:1)",
			explained: `int(ticket.subject) > 0 -> (error: invalid operation: int(Order "42" late) (1:1)) (ticket.subject = "Order \"42\" late")`},
		{name: "condition over budget", condition: `len(1..20000) > 0`, detail: Explained, err: ErrBudget,
			explained: `len(1..20000) > 0 -> (not evaluated: the evaluation budget ran out)`},
		{name: "actions over budget", condition: `true`, actions: []domain.AutomationAction{costly, note}, detail: Explained,
			matched: true, budget: ErrBudget, explained: `true -> true`,
			rendered: []string{"template: rule exceeded its evaluation budget (more than 10000 list elements)", "urgent"}},
		{name: "event budget spent", condition: `true`, actions: []domain.AutomationAction{note}, detail: Explained, eventSpent: true,
			err: ErrEventBudget, noExplanation: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compile(domain.Rule{Condition: tc.condition, Actions: tc.actions})
			if err != nil {
				t.Fatal(err)
			}
			env := NewEnv(updated())
			if tc.eventSpent {
				env.budget.eventSteps = EventStepBudget
			}
			got := c.Evaluate(new(Machine), env, tc.detail)
			if got.Matched != tc.matched {
				t.Errorf("matched %v", got.Matched)
			}
			switch {
			case tc.err != nil && !errors.Is(got.Err, tc.err), tc.errText != "" && (got.Err == nil || got.Err.Error() != tc.errText),
				tc.err == nil && tc.errText == "" && got.Err != nil:
				t.Errorf("error %v", got.Err)
			}
			if tc.budget != nil && !errors.Is(got.BudgetErr, tc.budget) || tc.budget == nil && got.BudgetErr != nil {
				t.Errorf("budget error %v", got.BudgetErr)
			}
			if want := firstNonNil(tc.err, tc.budget); want != nil && !errors.Is(got.Error(), want) {
				t.Errorf("Error() %v", got.Error())
			}
			var notes []string
			for _, r := range got.Actions {
				if r.Err != nil {
					notes = append(notes, r.Err.Error())
				} else {
					notes = append(notes, r.Content)
				}
			}
			if !slices.Equal(notes, tc.rendered) {
				t.Errorf("actions %q, want %q", notes, tc.rendered)
			}
			switch {
			case tc.noExplanation && got.Explanation != nil:
				t.Errorf("explanation %s, want none", got.Explanation)
			case !tc.noExplanation && (got.Explanation == nil || got.Explanation.String() != tc.explained):
				t.Errorf("explanation %v, want %q", got.Explanation, tc.explained)
			}
		})
	}
}

func firstNonNil(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// TestSample: the check at save renders the actions whatever the condition gives.
func TestSample(t *testing.T) {
	c, err := Compile(domain.Rule{Condition: `false`, Actions: []domain.AutomationAction{
		{Type: domain.AutomationCustomHTTP, Method: "POST", URL: "/hooks/{{ ticket.ticket_id }}"}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Sample(NewEnv(updated())); len(r) != 1 || r[0].Err != nil || r[0].HTTP.URL != "/hooks/tkt_1" {
		t.Errorf("sample %+v", r)
	}
}

// TestCacheCompilesDraftsEachTime: a rule without an ID is a draft, never kept.
func TestCacheCompilesDraftsEachTime(t *testing.T) {
	var cache Cache
	a, _ := cache.Get(domain.Rule{Condition: "true"})
	b, _ := cache.Get(domain.Rule{Condition: "false"})
	if a == b {
		t.Error("two drafts share a compiled rule")
	}
	if _, err := cache.Get(domain.Rule{ID: "slp_1", Version: 1, Condition: "ticket.nope"}); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("a rule that does not compile: %v", err)
	}
}
