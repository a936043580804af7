package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm/runtime"
)

// Every evaluation of a rule (its condition and then its templates, in the worker, in a dry
// run and in the sample render at save) runs under one budget. The mechanism, so that no
// expression that compiles can cost more than the budget:
//
//   - Only the builtins in allowedBuiltins exist. Those that build strings or lists (split,
//     join, replace, upper, ...) are replaced by versions in the environment that charge
//     what they will produce before producing it.
//   - At compile time every predicate body (any, all, filter, map, ...) is patched to charge
//     a step per iteration, weighted by its size, so nested loops pay for every inner
//     iteration; string + becomes a charged concatenation; contains and matches charge
//     for the bytes they scan. A matches pattern must be a string literal.
//   - expr's own VM memory budget caps ranges (1..n), list and map literals and sorting.
//   - A wall-clock deadline, checked at every charge, backs the step count up.
//
// Past any limit the evaluation stops with ErrBudget.
const (
	// StepBudget is the work one evaluation may do, in steps: a predicate iteration costs
	// the size of its body in nodes, a scan one step per 256 bytes (per 2 for a regular
	// expression), a builtin one step per 64 bytes it produces.
	StepBudget = 50_000
	// ByteBudget is what one evaluation may produce: strings and lists built by builtins,
	// concatenation and rendered template text.
	ByteBudget = 512 << 10
	// TimeBudget is the wall-clock backstop of one evaluation. The step count is what
	// bounds a rule (the costliest stops within a few ms); the clock only catches what it
	// might miss, and is generous because a loaded machine is slow for every rule.
	TimeBudget = 50 * time.Millisecond
	// EventStepBudget and EventTimeBudget bound all of one event's rules together (a
	// tenant may have many), so one event of one tenant holds a worker for at most this
	// long, whatever its rules.
	EventStepBudget = 4 * StepBudget
	EventTimeBudget = 4 * TimeBudget
	// collectionBudget caps the elements of ranges, list and map literals (expr's own
	// memory budget).
	collectionBudget = 10_000
	// elementBytes is what a list element is charged beside its contents.
	elementBytes = 16
	// reserved prefixes the environment's budget helpers; rules may not name them.
	reserved = "__"
)

// ErrBudget is the error of an evaluation that went past its budget.
var ErrBudget = errors.New("rule exceeded its evaluation budget")

// ErrTooSlow is the error of an evaluation stopped by the wall clock. A loaded machine can
// cause it, so unlike ErrBudget it does not count toward disabling the automation.
var ErrTooSlow = errors.New("rule exceeded its evaluation budget (wall clock)")

// ErrEventBudget is the error of a rule not evaluated, or stopped, because the event's
// rules together used up the event's budget. It is not the rule's own fault.
var ErrEventBudget = errors.New("the event's rules together exceeded their evaluation budget")

// allowedBuiltins are expr's builtins that rules may use unchanged: predicates (their
// bodies are charged per iteration) and functions whose cost is bounded by their input.
var allowedBuiltins = []string{
	"all", "none", "any", "one", "filter", "map", "find", "findIndex", "findLast", "findLastIndex", "count", "sum",
	"len", "type", "abs", "ceil", "floor", "round", "int", "float", "indexOf", "lastIndexOf", "hasPrefix", "hasSuffix",
	"max", "min", "mean", "now", "duration", "first", "last", "get", "keys", "values", "take", "reverse",
}

// budget is the state of one rule's evaluation, and of its event's rules together.
type budget struct {
	steps, bytes  int
	deadline      time.Time
	eventDeadline bool // the deadline is what the event has left, not the rule's own
	runStart      time.Time
	eventSteps    int
	eventTime     time.Duration
}

// reset starts a rule's evaluation: its condition, then its templates.
func (b *budget) reset() {
	b.steps, b.bytes = 0, 0
	b.start()
}

// start starts the clock of one run (the condition, or the rendering of the templates), so
// that what happens between the two (reading the tenant) does not count.
func (b *budget) start() {
	now := time.Now()
	b.runStart = now
	b.deadline, b.eventDeadline = now.Add(TimeBudget), false
	if left := EventTimeBudget - b.eventTime; left < TimeBudget {
		b.deadline, b.eventDeadline = now.Add(left), true
	}
}

// stop ends a run, adding its time to the event's.
func (b *budget) stop() {
	b.eventTime += time.Since(b.runStart)
}

// eventLeft fails when the event's rules have used up the event's budget.
func (b *budget) eventLeft() error {
	if b.eventSteps >= EventStepBudget || b.eventTime >= EventTimeBudget {
		return fmt.Errorf("%w (%d steps, %s)", ErrEventBudget, EventStepBudget, EventTimeBudget)
	}
	return nil
}

// spend charges steps and bytes, and fails once either runs out or the deadline passes.
func (b *budget) spend(steps, bytes int) error {
	steps = max(steps, 1)
	b.steps += steps
	b.eventSteps += steps
	b.bytes += max(bytes, 0)
	switch {
	case b.steps > StepBudget:
		return fmt.Errorf("%w (more than %d steps)", ErrBudget, StepBudget)
	case b.eventSteps > EventStepBudget:
		return fmt.Errorf("%w (more than %d steps)", ErrEventBudget, EventStepBudget)
	case b.bytes > ByteBudget:
		return fmt.Errorf("%w (more than %d KiB)", ErrBudget, ByteBudget>>10)
	case time.Now().After(b.deadline) && b.eventDeadline:
		return fmt.Errorf("%w (more than %s)", ErrEventBudget, EventTimeBudget)
	case time.Now().After(b.deadline):
		return fmt.Errorf("%w: more than %s", ErrTooSlow, TimeBudget)
	}
	return nil
}

// produce charges for a result of n bytes before it is built.
func (b *budget) produce(n int) error {
	return b.spend(n/64, n)
}

// Builtins are the charged replacements of expr's string and list builtins, and the
// helpers the compile-time patch calls. They are fields of Env so that each evaluation
// charges its own budget.
type Builtins struct {
	Split      func(s, sep string) ([]string, error)            `expr:"split" json:"-"`
	Join       func(list []any, sep ...string) (string, error)  `expr:"join" json:"-"`
	Replace    func(s, old, new string) (string, error)         `expr:"replace" json:"-"`
	Upper      func(s string) (string, error)                   `expr:"upper" json:"-"`
	Lower      func(s string) (string, error)                   `expr:"lower" json:"-"`
	Trim       func(s string, cutset ...string) (string, error) `expr:"trim" json:"-"`
	TrimPrefix func(s, prefix string) (string, error)           `expr:"trimPrefix" json:"-"`
	TrimSuffix func(s, suffix string) (string, error)           `expr:"trimSuffix" json:"-"`
	String     func(v any) (string, error)                      `expr:"string" json:"-"`
	ToJSON     func(v any) (string, error)                      `expr:"toJSON" json:"-"`
	Tick       func(cost int) (bool, error)                     `expr:"__tick" json:"-"`
	Concat     func(a, b string) (string, error)                `expr:"__concat" json:"-"`
	Add        func(a, b any) (any, error)                      `expr:"__add" json:"-"`
	Scan       func(s string, weight int) (string, error)       `expr:"__scan" json:"-"`
}

func newBuiltins(b *budget) Builtins {
	concat := func(x, y string) (string, error) {
		if err := b.produce(len(x) + len(y)); err != nil {
			return "", err
		}
		return x + y, nil
	}
	return Builtins{
		Split: func(s, sep string) ([]string, error) {
			n := strings.Count(s, sep) + 1
			if sep == "" {
				n = utf8.RuneCountInString(s)
			}
			if err := b.produce(n*elementBytes + len(s)); err != nil {
				return nil, err
			}
			return strings.Split(s, sep), nil
		},
		Join: func(list []any, sep ...string) (string, error) {
			glue := strings.Join(sep, "")
			parts := make([]string, len(list))
			n := len(glue) * max(len(list)-1, 0)
			for i, v := range list {
				parts[i] = text(v)
				n += len(parts[i])
			}
			if err := b.produce(n + len(list)*elementBytes); err != nil {
				return "", err
			}
			return strings.Join(parts, glue), nil
		},
		Replace: func(s, old, new string) (string, error) {
			n := len(s)
			if k := strings.Count(s, old); len(new) > len(old) {
				n += k * (len(new) - len(old))
			}
			if err := b.produce(n); err != nil {
				return "", err
			}
			return strings.ReplaceAll(s, old, new), nil
		},
		Upper: func(s string) (string, error) { return charged(b, len(s), strings.ToUpper, s) },
		Lower: func(s string) (string, error) { return charged(b, len(s), strings.ToLower, s) },
		// The trimming functions only shrink (a substring, no copy): a step each.
		Trim: func(s string, cutset ...string) (string, error) {
			if len(cutset) == 0 {
				return strings.TrimSpace(s), b.spend(1, 0)
			}
			return strings.Trim(s, strings.Join(cutset, "")), b.spend(1, 0)
		},
		TrimPrefix: func(s, prefix string) (string, error) { return strings.TrimPrefix(s, prefix), b.spend(1, 0) },
		TrimSuffix: func(s, suffix string) (string, error) { return strings.TrimSuffix(s, suffix), b.spend(1, 0) },
		String: func(v any) (string, error) {
			s := text(v)
			return s, b.produce(len(s))
		},
		ToJSON: func(v any) (string, error) {
			enc, err := json.Marshal(jsonValue(v))
			if err != nil {
				return "", errors.New("toJSON: the value cannot be written as JSON")
			}
			return string(enc), b.produce(len(enc))
		},
		Tick: func(cost int) (bool, error) {
			return true, b.spend(cost, 0)
		},
		Concat: concat,
		Add: func(x, y any) (any, error) {
			xs, okx := x.(string)
			ys, oky := y.(string)
			if okx && oky {
				return concat(xs, ys)
			}
			if err := b.spend(1, 0); err != nil {
				return nil, err
			}
			return runtime.Add(x, y), nil
		},
		Scan: func(s string, weight int) (string, error) {
			return s, b.spend(len(s)*max(weight, 1)/256, 0)
		},
	}
}

// charged runs f on s after charging for its result of size bytes.
func charged(b *budget, size int, f func(string) string, s string) (string, error) {
	if err := b.produce(size); err != nil {
		return "", err
	}
	return f(s), nil
}

// budgetOptions are the compile options that put a program under the budget.
func budgetOptions(p *patcher) []expr.Option {
	opts := []expr.Option{expr.DisableAllBuiltins()}
	for _, name := range allowedBuiltins {
		opts = append(opts, expr.EnableBuiltin(name))
	}
	return append(opts, expr.Patch(p))
}

// patcher rewrites a checked tree so that its data-dependent work is charged, and notes
// uses of the reserved names and of patterns that are not literals.
type patcher struct {
	err error
}

var stringType = reflect.TypeOf("")

func (p *patcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if strings.HasPrefix(n.Value, reserved) && p.err == nil {
			p.err = fmt.Errorf("unknown name %s", n.Value)
		}
	case *ast.BuiltinNode:
		// The parser makes predicate builtins whatever is disabled; refuse those not allowed.
		if !slices.Contains(allowedBuiltins, n.Name) && p.err == nil {
			p.err = fmt.Errorf("%s is not available in rules", n.Name)
		}
	case *ast.PredicateNode:
		cost := &ast.IntegerNode{Value: size(n.Node) + 1}
		tick := &ast.CallNode{Callee: &ast.IdentifierNode{Value: "__tick"}, Arguments: []ast.Node{cost}}
		n.Node = &ast.SequenceNode{Nodes: []ast.Node{tick, n.Node}}
	case *ast.BinaryNode:
		switch n.Operator {
		case "+":
			lt, rt := n.Left.Type(), n.Right.Type()
			switch {
			case lt == stringType && rt == stringType:
				ast.Patch(node, call("__concat", n.Left, n.Right))
			case isDynamic(lt) || isDynamic(rt) || lt == stringType || rt == stringType:
				ast.Patch(node, call("__add", n.Left, n.Right))
			}
		case "contains", "matches":
			if n.Operator == "matches" {
				if _, literal := n.Right.(*ast.StringNode); !literal && p.err == nil {
					p.err = errors.New("the pattern of matches must be a string literal")
				}
			}
			if n.Left.Type() == stringType {
				weight := 1
				if n.Operator == "matches" {
					weight = 128
				}
				n.Left = call("__scan", n.Left, &ast.IntegerNode{Value: weight})
			}
		}
	}
}

func call(name string, args ...ast.Node) ast.Node {
	return &ast.CallNode{Callee: &ast.IdentifierNode{Value: name}, Arguments: args}
}

func isDynamic(t reflect.Type) bool {
	return t == nil || t.Kind() == reflect.Interface
}

// size counts the nodes of a tree.
func size(n ast.Node) int {
	c := &counter{}
	ast.Walk(&n, c)
	return c.n
}

type counter struct{ n int }

func (c *counter) Visit(*ast.Node) { c.n++ }

// budgetError turns what stopped an evaluation into ErrBudget where the budget did, and
// into a one-line message otherwise.
func budgetError(prefix string, err error) error {
	for _, sentinel := range []error{ErrBudget, ErrTooSlow, ErrEventBudget} {
		if !errors.Is(err, sentinel) {
			continue
		}
		msg := err.Error()
		if i := strings.Index(msg, sentinel.Error()); i >= 0 {
			msg = msg[i:]
		}
		return fmt.Errorf("%s: %w%s", prefix, sentinel, strings.TrimPrefix(firstLine(msg), sentinel.Error()))
	}
	if strings.Contains(err.Error(), "memory budget exceeded") {
		return fmt.Errorf("%s: %w (more than %d list elements)", prefix, ErrBudget, collectionBudget)
	}
	return fmt.Errorf("%s: %s", prefix, firstLine(err.Error()))
}
