package domain

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestIDsSortByCreationTime(t *testing.T) {
	var ids []string
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 100; i++ {
		ids = append(ids, PrefixTicket+"_"+newIDBody(base.Add(time.Duration(i)*time.Millisecond)))
	}
	if !sort.StringsAreSorted(ids) {
		t.Error("IDs made later do not sort later")
	}
	id := NewID(PrefixTicket)
	if !ValidID(PrefixTicket, id) || ValidID(PrefixMessage, id) || ValidID(PrefixTicket, id+"x") || ValidID(PrefixTicket, strings.ToUpper(id)) {
		t.Errorf("ValidID misjudges %s", id)
	}
	seen := map[string]bool{}
	for i := 0; i < 10000; i++ {
		id := NewID(PrefixMessage)
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
	}
}

func TestNormalizeTags(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
		ok   bool
	}{
		{[]string{"vip", " returns ", "vip"}, []string{"vip", "returns"}, true},
		{[]string{"tier:gold", "région", "a/b", "x.y", "a_b-c"}, []string{"tier:gold", "région", "a/b", "x.y", "a_b-c"}, true},
		{[]string{""}, nil, false},
		{[]string{"two words"}, nil, false},
		{[]string{"emoji🙂"}, nil, false},
		{[]string{strings.Repeat("a", 51)}, nil, false},
		{[]string{strings.Repeat("é", 50)}, []string{strings.Repeat("é", 50)}, true},
		// The length is the tag's as sent, the OpenAPI document's maxLength.
		{[]string{" " + strings.Repeat("a", 50)}, nil, false},
		// So is the count (maxItems), duplicates included.
		{slices.Repeat([]string{"vip"}, MaxTags), []string{"vip"}, true},
		{slices.Repeat([]string{"vip"}, MaxTags+1), nil, false},
	} {
		got, err := NormalizeTags("tags", tc.in)
		if (err == nil) != tc.ok || (tc.ok && !slices.Equal(got, tc.want)) {
			t.Errorf("%q: got %q, %v", tc.in, got, err)
		}
	}
}

func TestTicketCreateNormalize(t *testing.T) {
	in := TicketCreate{Subject: " s ", Contact: &Contact{}, InitialMessage: &MessageCreate{Content: "  keep me  "}}
	if err := in.Normalize(); err != nil {
		t.Fatal(err)
	}
	if in.Subject != "s" || in.Status != StatusOpen || in.Priority != PriorityNormal || in.Channel != ChannelAPI || in.Tags == nil || in.Contact != nil {
		t.Errorf("defaults: %+v", in)
	}
	if m := in.InitialMessage; m.Role != RoleUser || m.Channel != ChannelAPI || m.Content != "  keep me  " {
		t.Errorf("initial message: %+v", m)
	}
	for name, tc := range map[string]struct {
		in    TicketCreate
		param string
	}{
		"blank subject":   {TicketCreate{Subject: " "}, "subject"},
		"bad email":       {TicketCreate{Subject: "s", Contact: &Contact{Email: "a@"}}, "contact.email"},
		"bad phone":       {TicketCreate{Subject: "s", Contact: &Contact{Phone: "+0123"}}, "contact.phone"},
		"control in name": {TicketCreate{Subject: "s", Contact: &Contact{Name: "a\x07"}}, "contact.name"},
		"NUL in content":  {TicketCreate{Subject: "s", InitialMessage: &MessageCreate{Content: "a\x00"}}, "initial_message.content"},
	} {
		err := tc.in.Normalize()
		var e *Error
		if err == nil || !asError(err, &e) || e.Code != EINVALID || e.Param != tc.param {
			t.Errorf("%s: %v, want invalid %s", name, err, tc.param)
		}
	}
}

func asError(err error, target **Error) bool {
	e, ok := err.(*Error)
	*target = e
	return ok
}

func TestParseScopes(t *testing.T) {
	got, err := ParseScopes("scopes", " support.read, support.write,support.read ")
	if err != nil || !slices.Equal(got, []string{"support.read", "support.write"}) {
		t.Errorf("got %v %v", got, err)
	}
	for _, bad := range []string{"", ",", "support.admin", "support.read,root"} {
		if _, err := ParseScopes("scopes", bad); ErrorCode(err) != EINVALID {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestListsCappedBeforeWork: a list far over its cap is refused by its length alone, in
// time that does not grow with what it holds.
func TestListsCappedBeforeWork(t *testing.T) {
	many := make([]string, 50_000)
	for i := range many {
		many[i] = fmt.Sprintf("tag-%d", i)
	}
	for _, tc := range []struct {
		name  string
		check func() error
	}{
		{"tags", func() error { _, err := NormalizeTags("tags", many); return err }},
		{"allowed hosts", func() error { _, err := NormalizeAllowedHosts("allowed_hosts", many[:MaxAllowedHosts+1]); return err }},
		{"headers", func() error {
			h := map[string]string{}
			for _, s := range many[:MaxActionHeaders+1] {
				h["X-"+s] = "v"
			}
			return checkActionHeaders("payload", h)
		}},
	} {
		start := time.Now()
		err := tc.check()
		var de *Error
		if !errors.As(err, &de) || de.Code != EINVALID || !strings.Contains(de.Message, "at most") {
			t.Errorf("%s: %v", tc.name, err)
		}
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Errorf("%s: took %s", tc.name, d)
		}
	}
	if hosts, err := NormalizeAllowedHosts("allowed_hosts", many[:MaxAllowedHosts]); err != nil || len(hosts) != MaxAllowedHosts {
		t.Errorf("%d hosts: %v", len(hosts), err)
	}
}

// TestHeaderValuesVisibleASCII: a value that a receiver or proxy could change or refuse is
// refused at the API.
func TestHeaderValuesVisibleASCII(t *testing.T) {
	for value, ok := range map[string]bool{
		"Bearer abc.def":  true,
		"a\tb c ~!":       true,
		"caf\u00e9":       false,
		"a\x01b":          false,
		"a\x7fb":          false,
		"line\r\nX-Evil:": false,
		"nul\x00":         false,
	} {
		err := checkActionHeaders("payload", map[string]string{"X-Custom": value})
		if (err == nil) != ok {
			t.Errorf("%q: %v", value, err)
		}
	}
}

// TestLimitsCountCharacters: limits the API states in characters count characters, not
// UTF-8 bytes, as maxLength does in the OpenAPI document.
func TestLimitsCountCharacters(t *testing.T) {
	cond := func(s string) error {
		return (&AutomationInput{Condition: &s}).CheckStatic(false)
	}
	slaCond := func(s string) error {
		return (&SLAPolicyInput{Condition: &s}).CheckStatic(false)
	}
	note := func(s string) error {
		return (&AutomationAction{Type: AutomationAddNote, Content: s}).CheckShape("actions[0]")
	}
	url := func(s string) error {
		_, err := resolveActionURL(s, ActionSettings{ActionsBaseURL: "https://hooks.example.com"})
		return err
	}
	for _, tc := range []struct {
		name  string
		check func(string) error
		limit int
		unit  string
	}{
		{"condition", cond, MaxConditionLen, "é"},
		{"SLA condition", slaCond, MaxConditionLen, "é"},
		{"note", note, MaxNoteTemplateLen, "é"},
		{"url", url, MaxActionURLLen, "é"},
	} {
		fill := func(n int) string {
			if tc.name == "url" {
				return "/" + strings.Repeat(tc.unit, n-1)
			}
			return strings.Repeat(tc.unit, n)
		}
		if err := tc.check(fill(tc.limit)); err != nil {
			t.Errorf("%s of %d characters (%d bytes): %v", tc.name, tc.limit, len(fill(tc.limit)), err)
		}
		if err := tc.check(fill(tc.limit + 1)); ErrorCode(err) != EINVALID {
			t.Errorf("%s of %d characters: %v, want refused", tc.name, tc.limit+1, err)
		}
	}
}

// TestCustomHTTPShape: what templates cannot change in an automation's custom_http action
// is checked with its shape, so a dry run refuses it as saving does, naming the field.
func TestCustomHTTPShape(t *testing.T) {
	n := func(v int) *int { return &v }
	many := map[string]string{}
	for i := range MaxActionHeaders + 1 {
		many[fmt.Sprintf("X-H%d", i)] = "v"
	}
	ok := AutomationAction{Type: AutomationCustomHTTP, Method: "POST", URL: "/hooks/{{ ticket.id }}",
		Headers: map[string]string{"X-Subject": "{{ ticket.subject }}"}, BodyJSON: `{"id": "{{ ticket.id }}"}`,
		TimeoutMS: n(MinActionTimeoutMS), MaxAttempts: n(MaxActionMaxAttempts)}
	if err := ok.CheckShape("actions[0]"); err != nil {
		t.Fatalf("a valid action: %v", err)
	}
	for name, tc := range map[string]struct {
		change func(a *AutomationAction)
		param  string
	}{
		"timeout":          {func(a *AutomationAction) { a.TimeoutMS = n(MinActionTimeoutMS - 1) }, "actions[0].timeout_ms"},
		"attempts":         {func(a *AutomationAction) { a.MaxAttempts = n(0) }, "actions[0].max_attempts"},
		"reserved header":  {func(a *AutomationAction) { a.Headers = map[string]string{"host": "x"} }, "actions[0].headers.host"},
		"header name":      {func(a *AutomationAction) { a.Headers = map[string]string{"X Y": "x"} }, "actions[0].headers.X Y"},
		"header value":     {func(a *AutomationAction) { a.Headers = map[string]string{"X-A": "café"} }, "actions[0].headers.X-A"},
		"too many headers": {func(a *AutomationAction) { a.Headers = many }, "actions[0].headers"},
		"body with GET":    {func(a *AutomationAction) { a.Method = "GET" }, "actions[0].body_json"},
		"url length":       {func(a *AutomationAction) { a.URL = "/" + strings.Repeat("a", MaxActionURLLen) }, "actions[0].url"},
	} {
		a := ok
		tc.change(&a)
		err := a.CheckShape("actions[0]")
		var e *Error
		if !errors.As(err, &e) || e.Code != EINVALID || e.Param != tc.param {
			t.Errorf("%s: %v, want invalid %s", name, err, tc.param)
		}
	}
}
