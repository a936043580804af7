package simulate

import (
	"strings"
	"testing"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/rules"
)

// TestCheckSample: a rule's custom_http actions, rendered for a sample ticket, must be
// requests the tenant allows; the error names the action's field.
func TestCheckSample(t *testing.T) {
	withBase := &domain.Tenant{ID: "ten_1", ActionsBaseURL: "https://hooks.example.com"}
	noBase := &domain.Tenant{ID: "ten_2"}
	http := func(url string, headers map[string]string) domain.AutomationAction {
		return domain.AutomationAction{Type: domain.AutomationCustomHTTP, Method: "POST", URL: url, Headers: headers}
	}
	for _, tc := range []struct {
		name    string
		tenant  *domain.Tenant
		actions []domain.AutomationAction
		param   string // "" for none
	}{
		{"relative to the base", withBase, []domain.AutomationAction{http("/hooks/{{ ticket.ticket_id }}", nil)}, ""},
		{"no base for a relative URL", noBase, []domain.AutomationAction{http("/hooks", nil)}, "actions[0].url"},
		{"host not allowed", withBase, []domain.AutomationAction{{Type: domain.AutomationSetFields, AddTags: []string{"x"}}, http("https://evil.example.net/x", nil)}, "actions[1].url"},
		{"header not allowed", withBase, []domain.AutomationAction{http("/x", map[string]string{"Host": "evil"})}, "actions[0].headers.Host"},
		{"runtime error: left to the run", withBase, []domain.AutomationAction{http("{{ int(ticket.subject) }}", nil)}, ""},
		{"not custom_http", noBase, []domain.AutomationAction{{Type: domain.AutomationAddNote, Content: "{{ ticket.subject }}"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := rules.Compile(domain.Rule{Condition: "false", Actions: tc.actions})
			if err != nil {
				t.Fatal(err)
			}
			err = checkSample(c, tc.tenant)
			var param string
			if de, ok := err.(*domain.Error); ok {
				param = de.Param
			} else if err != nil {
				t.Fatalf("not a domain error: %v", err)
			}
			if param != tc.param {
				t.Errorf("got %v, want an error on %q", err, tc.param)
			}
		})
	}
}

// TestCheckCondition: a condition must compile to a boolean and may not fold to false.
func TestCheckCondition(t *testing.T) {
	for _, tc := range []struct {
		name, condition, msg string // msg: "" for none
	}{
		{"holds sometimes", `ticket.priority == "urgent"`, ""},
		{"always true", `true`, ""},
		{"false", `false`, "always false"},
		{"folds to false", `1 == 2`, "always false"},
		{"not true", `!true`, "always false"},
		{"and false", `ticket.priority == "urgent" && false`, "always false"},
		{"unknown field", `ticket.nope`, "line 1, column 8: type ticket has no field nope"},
		{"not a boolean", `ticket.subject`, "must be a boolean expression"},
		{"builtin not allowed", `repeat("x", 9) != ""`, "does not compile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckCondition(tc.condition)
			switch {
			case tc.msg == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.msg != "" && (err == nil || !strings.Contains(err.Error(), tc.msg) || domain.ErrorCode(err) != domain.EINVALID):
				t.Errorf("got %v, want EINVALID with %q", err, tc.msg)
			}
		})
	}
}
