package domain

import (
	"regexp"
	"strings"
	"testing"
)

func TestErasureSubjects(t *testing.T) {
	for _, c := range []struct {
		email, phone string
		ok           bool
		param        string
	}{
		{"ada@example.com", "", true, ""},
		{"Ada.Lovelace+x@Example.COM", "", true, ""},
		{" ada@example.com", "", false, "email"},
		{"ada@exa\tmple.com", "", false, "email"},
		{"", "+1 (555) 010-0199", true, ""},
		{"", "", false, ""},
		{"ada@example.com", "+15550100", false, ""},
		{"ada", "", false, "email"},
		{"a@b@c", "", false, "email"},
		{"@example.com", "", false, "email"},
		{"ada lovelace@example.com", "", false, "email"},
		{strings.Repeat("a", 250) + "@e.co", "", false, "email"},
		{"", "555", false, "phone"},
		{"", "call me", false, "phone"},
		{"", "+1 555 0100; DROP", false, "phone"},
	} {
		_, err := NewErasureSubject(c.email, c.phone)
		if (err == nil) != c.ok || (err != nil && err.(*Error).Param != c.param) {
			t.Errorf("%q %q: %v", c.email, c.phone, err)
		}
	}
}

// TestErasurePatternsFindTheSubject: against the oracle of a hand-written list, the pattern
// finds the subject however it is written (case, separators, inside JSON text) and never a
// neighbour; Go's regexp agrees with PostgreSQL's on these ASCII patterns.
func TestErasurePatternsFindTheSubject(t *testing.T) {
	email, _ := NewErasureSubject("Ada.L+x@example.com", "")
	phone, _ := NewErasureSubject("", "+1 555 010-0199")
	for _, c := range []struct {
		s    ErasureSubject
		text string
		hit  bool
	}{
		{email, "write to ada.l+x@EXAMPLE.com please", true},
		{email, `{"contact":{"email":"Ada.L+x@example.com"}}`, true},
		{email, "adaXl+x@example.com", false}, // the dot is literal
		{email, "ada.lx@example.com", false},  // so is the plus
		{phone, "call +1 (555) 010 0199", true},
		{phone, `{"phone":"15550100199"}`, true},
		{phone, "1-555-010-0199", true},
		{phone, "1 555 010 0198", false},
	} {
		re := regexp.MustCompile("(?i)" + c.s.Pattern())
		if got := re.MatchString(c.text); got != c.hit {
			t.Errorf("%s in %q: %v, want %v", c.s.Pattern(), c.text, got, c.hit)
		}
	}
	if a, b := email.Hash("ten_a"), mustSubject(t, "ADA.L+X@example.com", "").Hash("ten_a"); a != b {
		t.Error("the same address in another case hashes differently")
	}
	if email.Hash("ten_a") == email.Hash("ten_b") {
		t.Error("two tenants' hashes of one address are equal")
	}
	if phone.Hash("ten_a") != mustSubject(t, "", "1-555-0100199").Hash("ten_a") {
		t.Error("one number written two ways hashes differently")
	}
}

func mustSubject(t *testing.T, email, phone string) ErasureSubject {
	t.Helper()
	s, err := NewErasureSubject(email, phone)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
