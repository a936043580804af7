package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/threada/threada/internal/domain"
)

// Limits that keep any one rule cheap: a condition compiles to at most maxNodes nodes, the
// expensive string builtin is off, and expr's VM caps the memory a run may allocate.
const (
	maxNodes           = 300
	maxTemplates       = 20
	maxTemplateNodes   = 100
	templateOpen       = "{{"
	templateClose      = "}}"
	templateValueLimit = 64 << 10
)

// compile compiles src under the evaluation budget (see budget.go).
func compile(param, src string, extra ...expr.Option) (*vm.Program, error) {
	p := &patcher{}
	opts := append([]expr.Option{expr.Env(&Env{})}, budgetOptions(p)...)
	prog, err := expr.Compile(src, append(opts, extra...)...)
	if err == nil && p.err != nil {
		return nil, domain.Invalidf(param, "`%s` does not compile: %s", param, p.err)
	}
	if err != nil {
		return nil, compileError(param, err)
	}
	return prog, nil
}

// CompileCondition compiles a condition; an invalid or non-boolean one is an EINVALID
// error naming param with the line and column of the problem.
func CompileCondition(param, src string) (*vm.Program, error) {
	return compile(param, src, expr.AsBool(), expr.MaxNodes(maxNodes))
}

// goNames turns the environment's Go type names in expr's messages into the names rules use.
var goNames = strings.NewReplacer("*rules.Ticket", "ticket", "rules.Ticket", "ticket", "rules.Contact", "contact",
	"*rules.Message", "message", "rules.Message", "message", "rules.Event", "event", "rules.Change", "change", "*rules.Env", "the environment")

func compileError(param string, err error) error {
	if msg := err.Error(); strings.HasPrefix(msg, "expected bool, but got ") {
		return domain.Invalidf(param, "`%s` must be a boolean expression (true or false); this one gives a %s.", param, strings.TrimPrefix(msg, "expected bool, but got "))
	}
	var fe *file.Error
	if errors.As(err, &fe) {
		return domain.Invalidf(param, "`%s` does not compile: line %d, column %d: %s", param, fe.Line, fe.Column+1, goNames.Replace(fe.Message))
	}
	return domain.Invalidf(param, "`%s` does not compile: %s", param, goNames.Replace(firstLine(err.Error())))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// Mode says how a template's values are escaped.
type Mode int

// Template modes.
const (
	Plain Mode = iota // as is (header values, notes)
	URL               // escaped for the URL component the hole is in: query-escaped after ?, else path-escaped
	JSON              // JSON-escaped inside a string literal, JSON-encoded outside one
)

// Template is text with {{ expr }} holes.
type Template struct {
	parts []templatePart
	mode  Mode
}

type templatePart struct {
	literal  string
	prog     *vm.Program // nil for a literal
	inString bool        // JSON mode: the hole is inside a string literal
	inQuery  bool        // URL mode: the hole is in the query string or fragment
}

// CompileTemplate compiles src; param names it in errors. In JSON mode the text with its
// holes filled must be valid JSON.
func CompileTemplate(param, src string, mode Mode) (*Template, error) {
	t := &Template{mode: mode}
	rest, holes := src, 0
	inString, inQuery := false, false
	for {
		i := strings.Index(rest, templateOpen)
		if i < 0 {
			t.parts = append(t.parts, templatePart{literal: rest})
			break
		}
		lit := rest[:i]
		inString = jsonStringState(lit, inString)
		inQuery = inQuery || strings.ContainsAny(lit, "?#")
		t.parts = append(t.parts, templatePart{literal: lit})
		j := strings.Index(rest[i:], templateClose)
		if j < 0 {
			return nil, domain.Invalidf(param, "`%s` opens a template with {{ that is never closed with }}.", param)
		}
		code := strings.TrimSpace(rest[i+len(templateOpen) : i+j])
		if holes++; holes > maxTemplates {
			return nil, domain.Invalidf(param, "`%s` holds more than %d templates.", param, maxTemplates)
		}
		prog, err := compile(param, code, expr.MaxNodes(maxTemplateNodes))
		if err != nil {
			return nil, err
		}
		t.parts = append(t.parts, templatePart{prog: prog, inString: inString, inQuery: inQuery})
		rest = rest[i+j+len(templateClose):]
	}
	if mode == JSON && src != "" {
		var sample strings.Builder
		for _, p := range t.parts {
			switch {
			case p.prog == nil:
				sample.WriteString(p.literal)
			case p.inString:
				sample.WriteString("x")
			default:
				sample.WriteString("0")
			}
		}
		if !json.Valid([]byte(sample.String())) {
			return nil, domain.Invalidf(param, "`%s` must be valid JSON once its templates are filled in.", param)
		}
	}
	return t, nil
}

// jsonStringState scans s and returns whether it ends inside a JSON string literal, given
// whether it starts inside one.
func jsonStringState(s string, inString bool) bool {
	escaped := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		}
	}
	return inString
}

// Render fills the holes from env, charging env's budget for the text it produces.
func (t *Template) Render(env *Env) (string, error) {
	var b strings.Builder
	machine := vm.VM{MemoryBudget: collectionBudget}
	for _, p := range t.parts {
		if p.prog == nil {
			if err := env.budget.produce(len(p.literal)); err != nil {
				return "", budgetError("template", err)
			}
			b.WriteString(p.literal)
			continue
		}
		v, err := machine.Run(p.prog, env)
		if err != nil {
			return "", budgetError("template", err)
		}
		s, err := t.format(v, p)
		if err != nil {
			return "", err
		}
		if len(s) > templateValueLimit {
			return "", fmt.Errorf("template: a value is longer than %d bytes", templateValueLimit)
		}
		if err := env.budget.produce(len(s)); err != nil {
			return "", budgetError("template", err)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func (t *Template) format(v any, p templatePart) (string, error) {
	switch t.mode {
	case JSON:
		if p.inString {
			enc, err := json.Marshal(text(v))
			if err != nil {
				return "", err
			}
			return string(enc[1 : len(enc)-1]), nil
		}
		enc, err := json.Marshal(jsonValue(v))
		return string(enc), err
	case URL:
		// In the query a value must not add or split parameters (&, =, +, ;) or end the
		// query (#); in the path it must not add segments (/) or start the query (?).
		if p.inQuery {
			return url.QueryEscape(text(v)), nil
		}
		return url.PathEscape(text(v)), nil
	}
	s := text(v)
	if strings.ContainsAny(s, "\r\n\x00") {
		return "", errors.New("template: a value holds a line break or NUL")
	}
	return s, nil
}

// text renders a value as plain text.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case []string:
		return strings.Join(x, ",")
	}
	return fmt.Sprint(v)
}

func jsonValue(v any) any {
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format(time.RFC3339)
	}
	return v
}

// Compiled is a rule with its condition and templates compiled.
type Compiled struct {
	condition *vm.Program
	explain   *explainer
	actions   []compiledAction
}

type compiledAction struct {
	spec    domain.AutomationAction
	url     *Template
	headers map[string]*Template
	body    *Template
	content *Template
}

// Compile compiles a rule's condition and templates. Errors are EINVALID naming the field:
// condition, actions[1].body_json, ...
func Compile(r domain.Rule) (*Compiled, error) {
	cond, err := CompileCondition("condition", r.Condition)
	if err != nil {
		return nil, err
	}
	c := &Compiled{condition: cond, explain: newExplainer(r.Condition)}
	for i, spec := range r.Actions {
		param := fmt.Sprintf("actions[%d]", i)
		ca := compiledAction{spec: spec}
		switch spec.Type {
		case domain.AutomationCustomHTTP:
			if ca.url, err = CompileTemplate(param+".url", spec.URL, URL); err != nil {
				return nil, err
			}
			ca.headers = map[string]*Template{}
			for name, v := range spec.Headers {
				if ca.headers[name], err = CompileTemplate(param+".headers."+name, v, Plain); err != nil {
					return nil, err
				}
			}
			if ca.body, err = CompileTemplate(param+".body_json", spec.BodyJSON, JSON); err != nil {
				return nil, err
			}
		case domain.AutomationAddNote:
			if ca.content, err = CompileTemplate(param+".content", spec.Content, Plain); err != nil {
				return nil, err
			}
		}
		c.actions = append(c.actions, ca)
	}
	return c, nil
}

// Cache keeps compiled rules by (id, version), so each is compiled once per process.
type Cache struct {
	m sync.Map
}

type cacheKey struct {
	id      string
	version int
}

// Get returns the compiled rule, compiling it on first use. A draft (no ID) is compiled
// every time.
func (c *Cache) Get(r domain.Rule) (*Compiled, error) {
	if r.ID == "" {
		return Compile(r)
	}
	key := cacheKey{r.ID, r.Version}
	if v, ok := c.m.Load(key); ok {
		return v.(*Compiled), nil
	}
	compiled, err := Compile(r)
	if err != nil {
		return nil, err
	}
	c.m.Store(key, compiled)
	return compiled, nil
}
