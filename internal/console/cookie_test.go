package console

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestSessionCookieTag(t *testing.T) {
	if _, err := New(nil, nil, []byte("short"), nil); err == nil {
		t.Fatal("a short cookie key was accepted")
	}
	cn, err := New(nil, nil, bytes.Repeat([]byte{1}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := New(nil, nil, bytes.Repeat([]byte{2}, 32), nil)
	token, another := randomToken(), randomToken()
	good := cn.signCookie(token)
	_, tag, _ := strings.Cut(good, ".")
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{"ours", good, true},
		{"empty", "", false},
		{"no tag (a cookie from before tags)", token, false},
		{"empty tag", token + ".", false},
		{"empty token", "." + tag, false},
		{"another token under this tag", another + "." + tag, false},
		{"tagged with another server's key", other.signCookie(token), false},
		{"tag cut short", good[:len(good)-1], false},
		{"tag altered", token + "." + flip(tag[:1]) + tag[1:], false},
		{"too long", good + strings.Repeat("a", maxCookieLen), false},
	} {
		got, ok := cn.verifyCookie(tc.value)
		if ok != tc.ok || (ok && got != token) {
			t.Errorf("%s: %q, %v; want ok=%v", tc.name, got, ok, tc.ok)
		}
	}
	if len(good) > maxCookieLen {
		t.Errorf("our cookie is %d characters, over the limit of %d", len(good), maxCookieLen)
	}
}

func TestEndedSessionsAreBounded(t *testing.T) {
	var e endedSessions
	if e.has([]byte("a")) {
		t.Fatal("an empty set has a session")
	}
	e.add([]byte("a"))
	if !e.has([]byte("a")) || e.has([]byte("b")) {
		t.Fatal("remembers the wrong sessions")
	}
	for i := range maxEnded + 10 {
		e.add(fmt.Appendf(nil, "s%d", i))
	}
	if len(e.m) > maxEnded {
		t.Errorf("%d ended sessions remembered", len(e.m))
	}
}

// flip returns another base64url character than c.
func flip(c string) string {
	if c == "A" {
		return "B"
	}
	return "A"
}
