package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/threada/threada/internal/domain"
)

// Limits of an explanation: the top-level clauses it explains, the fields per clause, and
// the length of a value it shows.
const (
	maxExplainedClauses = 20
	maxExplainedFields  = 10
	explainValueLimit   = 200
)

// explainer explains a condition: its top-level clauses (split on && or ||), each compiled
// on its own, with the fields each reads.
type explainer struct {
	clauses []explainedClause
	more    int // clauses past maxExplainedClauses, not explained
}

type explainedClause struct {
	src    string
	prog   *vm.Program
	fields []explainedField
}

type explainedField struct {
	path string
	prog *vm.Program
}

// roots are the names of the environment whose member chains are fields.
var roots = map[string]bool{"ticket": true, "previous": true, "changes": true, "event": true, "message": true}

// newExplainer prepares the explanation of a condition that compiled; nil if it cannot.
func newExplainer(src string) *explainer {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	var nodes []ast.Node
	var split func(n ast.Node, op string)
	split = func(n ast.Node, op string) {
		if b, ok := n.(*ast.BinaryNode); ok && logical(b.Operator) == op {
			split(b.Left, op)
			split(b.Right, op)
			return
		}
		nodes = append(nodes, n)
	}
	if b, ok := tree.Node.(*ast.BinaryNode); ok && logical(b.Operator) != "" {
		split(b, logical(b.Operator))
	} else {
		nodes = []ast.Node{tree.Node}
	}
	e := &explainer{}
	if len(nodes) > maxExplainedClauses {
		e.more, nodes = len(nodes)-maxExplainedClauses, nodes[:maxExplainedClauses]
	}
	for _, n := range nodes {
		c := explainedClause{src: n.String()}
		if c.prog, err = compile("condition", c.src); err != nil {
			return nil
		}
		for _, path := range fieldsOf(n) {
			prog, err := compile("condition", path)
			if err != nil {
				continue
			}
			c.fields = append(c.fields, explainedField{path: path, prog: prog})
		}
		e.clauses = append(e.clauses, c)
	}
	return e
}

func logical(op string) string {
	switch op {
	case "&&", "and":
		return "&&"
	case "||", "or":
		return "||"
	}
	return ""
}

// fieldsOf lists the fields a clause reads: its longest member chains from the
// environment's roots, and what has_tag and changed read, at most maxExplainedFields.
func fieldsOf(n ast.Node) []string {
	f := &fieldFinder{}
	ast.Walk(&n, f)
	var out []string
	for _, p := range f.paths {
		longer := false
		for _, q := range f.paths {
			if q != p && strings.HasPrefix(q, p+".") {
				longer = true
			}
		}
		if !longer && !contains(out, p) {
			out = append(out, p)
		}
		if len(out) == maxExplainedFields {
			break
		}
	}
	return out
}

type fieldFinder struct{ paths []string }

func (f *fieldFinder) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.MemberNode:
		if root(n) {
			f.paths = append(f.paths, n.String())
		}
	case *ast.IdentifierNode:
		if roots[n.Value] && n.Value != "changes" {
			f.paths = append(f.paths, n.Value)
		}
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		switch id.Value {
		case "has_tag":
			f.paths = append(f.paths, "ticket.tags")
		case "changed", "changed_to", "changed_from":
			if len(n.Arguments) > 0 {
				if s, ok := n.Arguments[0].(*ast.StringNode); ok && identifier(s.Value) {
					f.paths = append(f.paths, "changes."+s.Value)
				}
			}
		}
	}
}

// root reports whether a member chain starts at one of the environment's roots.
func root(n *ast.MemberNode) bool {
	for {
		switch x := n.Node.(type) {
		case *ast.MemberNode:
			n = x
		case *ast.IdentifierNode:
			return roots[x.Value]
		default:
			return false
		}
	}
}

func identifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// explainOn evaluates each clause of the condition and the fields it reads against env,
// under the rule's budget (what is left of it after the evaluation): past it, the rest
// says it was not evaluated.
func (c *Compiled) explainOn(machine *vm.VM, env *Env) *domain.Explanation {
	e := c.explain
	if e == nil {
		return nil
	}
	env.budget.start()
	defer env.budget.stop()
	out := &domain.Explanation{Clauses: make([]domain.ExplainedClause, 0, len(e.clauses)), MoreClauses: e.more}
	stopped := ""
	run := func(prog *vm.Program) string {
		if stopped != "" {
			return stopped
		}
		v, err := machine.Run(prog, env)
		if err != nil {
			if err := budgetError("", err); errors.Is(err, ErrBudget) || errors.Is(err, ErrTooSlow) || errors.Is(err, ErrEventBudget) {
				stopped = "(not evaluated: the evaluation budget ran out)"
				return stopped
			}
			return "(error: " + firstLine(goNames.Replace(err.Error())) + ")"
		}
		return shown(v)
	}
	for _, cl := range e.clauses {
		ec := domain.ExplainedClause{Clause: truncate(cl.src), Value: run(cl.prog), Fields: []domain.ExplainedField{}}
		for _, f := range cl.fields {
			ec.Fields = append(ec.Fields, domain.ExplainedField{Path: f.path, Value: run(f.prog)})
		}
		out.Clauses = append(out.Clauses, ec)
	}
	return out
}

// shown renders a value as an explanation shows it: JSON, at most explainValueLimit bytes.
func shown(v any) string {
	b, err := json.Marshal(jsonValue(v))
	if err != nil {
		return truncate(fmt.Sprint(v))
	}
	return truncate(string(b))
}

func truncate(s string) string {
	if len(s) <= explainValueLimit {
		return s
	}
	cut := explainValueLimit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
