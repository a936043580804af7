package rules

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
)

// hostile is a message.created event whose content is as long as the API allows.
func hostile() *domain.TicketEvent {
	ev := messageCreated()
	ev.Message.Content = strings.Repeat("a,b ", domain.MaxContentLen/4)
	return ev
}

// costly are conditions and templates that compile but would burn seconds or hundreds of
// MiB without the budget.
var costly = []struct {
	name, src string
}{
	{"nested predicates over split", `any(split(message.content, ""), {any(split(message.content, ""), {# == "z"})})`},
	{"nested predicates over a range", `any(1..9000, {any(1..9000, {any(1..9000, {# < 0})})})`},
	{"string doubling", `let a = message.content + message.content; let b = a + a; let c = b + b; let d = c + c; len(d + d) > 0`},
	{"doubling through any", `let a = (event.depth > 0 ? message.content : 1) + message.content; let b = a + a; let c = b + b; let d = c + c; len(d + d) > 0`},
	{"huge range", `len(1..100000000) > 0`},
	{"replace expansion", `len(replace(message.content, "a", message.content)) > 0`},
	{"split into runes", `len(split(message.content, "")) > 0`},
	{"upper in a loop", `any(1..5000, {upper(message.content) == ""})`},
	{"join of splits", `len(join(map(1..2000, {message.content}), "")) > 0`},
	{"regex over content in a loop", `any(1..5000, {message.content matches "(a|b)+c"})`},
	{"contains over content in a loop", `any(1..9000, {message.content contains "zz"})`},
	{"toJSON of everything", `len(toJSON(map(1..5000, {message}))) > 0`},
}

// TestBudgetStopsCostlyRules: each costly condition stops with ErrBudget, quickly and with
// little memory, and names the budget.
func TestBudgetStopsCostlyRules(t *testing.T) {
	for _, tc := range costly {
		t.Run(tc.name, func(t *testing.T) {
			env := NewEnv(hostile())
			c, err := Compile(domain.Rule{Condition: tc.src})
			if err != nil {
				t.Fatalf("does not compile: %v", err)
			}
			start := time.Now()
			_, err = matches(c, env)
			// Under the race detector the clock may stop it first; make bench, without it,
			// checks that the step and byte counts alone do.
			if !errors.Is(err, ErrBudget) && !errors.Is(err, ErrTooSlow) {
				t.Fatalf("got %v, want ErrBudget", err)
			}
			if !strings.Contains(err.Error(), "rule exceeded its evaluation budget") {
				t.Errorf("message %q does not name the budget", err)
			}
			// Generous against the race detector; make bench measures the real figure.
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

// TestBudgetInTemplates: templates share their rule's budget; past it the rule stops.
func TestBudgetInTemplates(t *testing.T) {
	c, err := Compile(domain.Rule{Condition: "true", Actions: []domain.AutomationAction{
		{Type: domain.AutomationAddNote, Content: `{{ len(join(map(1..2000, {message.content}), "")) }}`},
		{Type: domain.AutomationAddNote, Content: `ok {{ message.role }}`},
	}})
	if err != nil {
		t.Fatal(err)
	}
	env := NewEnv(hostile())
	if _, err := matches(c, env); err != nil {
		t.Fatal(err)
	}
	out := c.renderActions(env)
	if !errors.Is(out[0].Err, ErrBudget) {
		t.Fatalf("first action: got %v, want ErrBudget", out[0].Err)
	}
	// The rule's evaluation stopped: its later actions are not rendered either.
	if !errors.Is(out[1].Err, ErrBudget) {
		t.Fatalf("second action: got %v, want ErrBudget", out[1].Err)
	}
}

// TestBudgetResetsPerRule: the budget is per evaluation, so many cheap rules on one
// environment never add up to a failure.
func TestBudgetResetsPerRule(t *testing.T) {
	c, err := Compile(domain.Rule{Condition: `any(split(message.content, " "), {# == "zz"}) || true`})
	if err != nil {
		t.Fatal(err)
	}
	ev := hostile()
	ev.Message.Content = strings.Repeat("word ", 2000)
	env := NewEnv(ev)
	for i := 0; i < 50; i++ {
		if ok, err := matches(c, env); err != nil || !ok {
			t.Fatalf("evaluation %d: %v %v", i, ok, err)
		}
	}
}

// TestBuiltinsUnderBudget: the charged builtins behave like expr's.
func TestBuiltinsUnderBudget(t *testing.T) {
	for _, cond := range []string{
		`split("a,b,c", ",") == ["a", "b", "c"]`,
		`join(["a", "b"], "-") == "a-b" && join(["a", "b"]) == "ab"`,
		`replace("a-b-c", "-", "+") == "a+b+c"`,
		`upper("ab") == "AB" && lower("AB") == "ab"`,
		`trim("  x ") == "x" && trim("xxyxx", "x") == "y" && trimPrefix("abc", "a") == "bc" && trimSuffix("abc", "c") == "ab"`,
		`string(42) == "42" && toJSON(["a"]) == "[\"a\"]"`,
		`ticket.subject + "!" == "Order \"42\" late!" && 1 + 2 == 3 && 1.5 + 1 == 2.5`,
		`changes.priority.to + "!" == "urgent!"`,
		`any(ticket.tags, {# == "vip"}) && all(ticket.tags, {len(#) > 2}) && count(ticket.tags, {# startsWith "r"}) == 1`,
		`filter(ticket.tags, {# != "vip"}) == ["returns"] && map(ticket.tags, {upper(#)}) == ["RETURNS", "VIP"]`,
		`ticket.subject matches "^Order" && ticket.subject contains "42"`,
		`now() > ticket.created_at && duration("1h") > duration("1m")`,
	} {
		if !match(t, cond, updated()) {
			t.Errorf("%s: false", cond)
		}
	}
}

// TestBudgetRefusedAtSave: names reserved for the budget, builtins outside the allow-list
// and patterns that are not literals do not compile.
func TestBudgetRefusedAtSave(t *testing.T) {
	for _, cond := range []string{
		`__tick(-1000000)`,
		`ticket.subject matches message.content`,
		`repeat("x", 3) == "xxx"`,
		`timezone("Europe/Berlin") != nil`,
		`len(sortBy(ticket.tags, #)) > 0`,
		`len(concat(ticket.tags, ticket.tags)) > 0`,
	} {
		_, err := Compile(domain.Rule{Condition: cond})
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != domain.EINVALID {
			t.Errorf("%s: got %v, want a validation error", cond, err)
		}
	}
}

// BenchmarkCostliestCondition is the costliest condition the budget allows to start: it
// runs until the budget stops it. make bench reports its time and allocation.
func BenchmarkCostliestCondition(b *testing.B) {
	for _, tc := range costly {
		b.Run(strings.ReplaceAll(tc.name, " ", "_"), func(b *testing.B) {
			c, err := Compile(domain.Rule{Condition: tc.src})
			if err != nil {
				b.Fatal(err)
			}
			env := NewEnv(hostile())
			b.ReportAllocs()
			for b.Loop() {
				*env.budget = budget{} // a new event each time
				if _, err := matches(c, env); !errors.Is(err, ErrBudget) {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestEventBudget: an event's rules together get EventStepBudget; past it the remaining
// rules stop with ErrEventBudget (not their own fault), and the next event starts afresh.
func TestEventBudget(t *testing.T) {
	// 4,000 steps: well within one rule's budget.
	c, err := Compile(domain.Rule{Condition: `none(1..1000, {# < 0})`})
	if err != nil {
		t.Fatal(err)
	}
	env := NewEnv(updated())
	within := 0
	for range 60 {
		_, err := matches(c, env)
		if err == nil {
			within++
			continue
		}
		if !errors.Is(err, ErrEventBudget) || errors.Is(err, ErrBudget) {
			t.Fatalf("got %v, want ErrEventBudget", err)
		}
	}
	// Exactly EventStepBudget/4,000 by steps; fewer when the race detector makes the
	// event's clock run out first.
	if within == 0 || within > EventStepBudget/4_000 {
		t.Errorf("%d rules ran within the event's budget", within)
	}
	if ok, err := matches(c, NewEnv(updated())); err != nil || !ok {
		t.Errorf("a new event: %v %v", ok, err)
	}
}
