package rules

import (
	"strings"
	"testing"

	"github.com/expr-lang/expr/vm"

	"github.com/threada/threada/internal/domain"
)

// TestExplainSplitsTopLevelClauses: an explanation evaluates each top-level clause and
// shows the fields it read, so a run reads like `ticket.priority == "high" -> false
// (ticket.priority = "urgent")`.
func TestExplainSplitsTopLevelClauses(t *testing.T) {
	c, err := Compile(domain.Rule{ID: "aut_1", Version: 1,
		Condition: `ticket.priority == "high" && has_tag("vip") && changed("priority") && ticket.contact.email endsWith "@example.com"`})
	if err != nil {
		t.Fatal(err)
	}
	var machine vm.VM
	ex := c.explainOn(&machine, NewEnv(updated()))
	want := strings.Join([]string{
		`ticket.priority == "high" -> false (ticket.priority = "urgent")`,
		`has_tag("vip") -> true (ticket.tags = ["returns","vip"])`,
		`changed("priority") -> true (changes.priority = {"from":"normal","to":"urgent"})`,
		`ticket.contact.email endsWith "@example.com" -> true (ticket.contact.email = "ada@example.com")`,
	}, "\n")
	if got := ex.String(); got != want {
		t.Errorf("explanation:\n%s\nwant:\n%s", got, want)
	}
}

// TestExplainStaysWithinTheBudget: explaining a costly rule stops where the budget ends
// and says so, rather than running on.
func TestExplainStaysWithinTheBudget(t *testing.T) {
	costly := `any(1..2000, {any(1..2000, {# == 0})}) || ticket.priority == "urgent"`
	c, err := Compile(domain.Rule{ID: "aut_1", Version: 1, Condition: costly})
	if err != nil {
		t.Fatal(err)
	}
	var machine vm.VM
	env := NewEnv(updated())
	ex := c.explainOn(&machine, env)
	if len(ex.Clauses) != 2 || !strings.Contains(ex.Clauses[0].Value, "budget") || !strings.Contains(ex.Clauses[1].Value, "budget") {
		t.Errorf("explanation: %s", ex)
	}
}
