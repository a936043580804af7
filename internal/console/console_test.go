package console

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// The committed htmx is the version tools/console-web pins (scripts/console-web.sh vendor
// copies it after a change of the pin).
func TestEmbeddedHTMXIsThePinnedOne(t *testing.T) {
	raw, err := os.ReadFile("../../tools/console-web/package.json")
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if err := json.Unmarshal(raw, &pkg); err != nil {
		t.Fatal(err)
	}
	js, err := staticFiles.ReadFile("static/htmx.min.js")
	if err != nil {
		t.Fatal(err)
	}
	want := pkg.DevDependencies["htmx.org"]
	if want == "" || !strings.Contains(string(js), `version:"`+want+`"`) {
		t.Errorf("internal/console/static/htmx.min.js is not htmx %q: run scripts/console-web.sh vendor", want)
	}
}

func TestEveryPageParses(t *testing.T) {
	p, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sign-in", "error", "keys", "key-rotate", "key-revoke", "automations", "automation",
		"sla-policies", "sla-policy", "sla-policy-delete", "actions", "action", "replays", "replay", "destinations", "settings", "secret-rotate", "audit"} {
		if p.byName[name] == nil {
			t.Errorf("no page %q", name)
		}
	}
}

func TestPositionOfAnOffset(t *testing.T) {
	for _, tc := range []struct {
		name      string
		src       string
		offset    int
		line, col int
	}{
		{"first line", `[{"a": }]`, 7, 1, 7},
		{"second line", "[\n  {,}]", 5, 2, 3},
		{"past the end", "[", 10, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if line, col := position(tc.src, tc.offset); line != tc.line || col != tc.col {
				t.Errorf("position(%q, %d) = %d:%d, want %d:%d", tc.src, tc.offset, line, col, tc.line, tc.col)
			}
		})
	}
}

func TestEnvFieldsFollowTheRulesEnvironment(t *testing.T) {
	names := map[string]bool{}
	for _, f := range envFields() {
		names[f.Name] = true
	}
	for _, want := range []string{"ticket.priority", "ticket.contact.email", "previous.status", "event.actor", "message.role", "has_tag(string)"} {
		if !names[want] {
			t.Errorf("%s is not listed: %v", want, names)
		}
	}
}

func TestSessionSecretsAreDerivedApart(t *testing.T) {
	tok := randomToken()
	if string(tokenHash(tok)) == csrfToken(tok) || len(tok) < 40 {
		t.Fatal("the session id and the CSRF token must differ")
	}
	sealed := sealBox(tok).Seal("thr_secret", "key_1")
	if strings.Contains(string(sealed), "thr_secret") {
		t.Fatal("the key is readable in its sealed form")
	}
	if got, err := sealBox(tok).Open(sealed, "key_1"); err != nil || got != "thr_secret" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := sealBox(randomToken()).Open(sealed, "key_1"); err == nil {
		t.Fatal("another session's token opened the key")
	}
}
