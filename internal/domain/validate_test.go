package domain

import (
	"strings"
	"testing"
	"time"
)

func TestCheckStorable(t *testing.T) {
	for name, tc := range map[string]struct {
		in string
		ok bool
	}{
		"plain":                   {"Order 42 is late", true},
		"unicode":                 {"Commande n° 42 — 遅い 🚚", true},
		"empty":                   {"", true},
		"backslash u not NUL":     {`C:\users\u0001`, true},
		"NUL":                     {"a\x00b", false},
		"escaped NUL as text":     {`payload {"a": "\u0000"}`, true},
		"invalid UTF-8":           {"a\xffb", false},
		"truncated UTF-8":         {"caf\xc3", false},
		"escaped NUL at the end":  {`\u0000`, true},
		"double backslash escape": {`\\u0000`, true},
	} {
		t.Run(name, func(t *testing.T) {
			err := CheckStorable("field", tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckStorable(%q) = %v, want ok %v", tc.in, err, tc.ok)
			}
			if err != nil && (ErrorCode(err) != EINVALID || err.(*Error).Param != "field") {
				t.Errorf("error %#v does not name the field", err)
			}
		})
	}
}

func TestCheckTime(t *testing.T) {
	for name, tc := range map[string]struct {
		in time.Time
		ok bool
	}{
		"now":                     {time.Now(), true},
		"first instant of year 1": {time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), true},
		"last second of 9999":     {time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), true},
		"year 0":                  {time.Date(0, 6, 1, 0, 0, 0, 0, time.UTC), false},
		"year 1 in +01:00 is 0":   {time.Date(1, 1, 1, 0, 30, 0, 0, time.FixedZone("", 3600)), false},
		"year 10000":              {time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), false},
		"9999 in -23:00 is 10000": {time.Date(9999, 12, 31, 23, 0, 0, 0, time.FixedZone("", -23*3600)), false},
		"before 4713 BC":          {time.Date(-5000, 1, 1, 0, 0, 0, 0, time.UTC), false},
	} {
		t.Run(name, func(t *testing.T) {
			if err := CheckTime("since", tc.in); (err == nil) != tc.ok {
				t.Errorf("CheckTime(%s) = %v, want ok %v", tc.in, err, tc.ok)
			}
		})
	}
}

func TestCheckTextRefusesWhatCannotBeStored(t *testing.T) {
	for _, s := range []string{"a\x00", "caf\xc3"} {
		if _, err := checkText("content", s, MaxContentLen, true); err == nil || err.(*Error).Param != "content" {
			t.Errorf("checkText(%q) = %v, want an error naming content", s, err)
		}
	}
}

// TestLengthsCountTheValueAsSent: a limit counts characters of the value as sent, before it
// is trimmed, so that it is exactly the OpenAPI document's maxLength.
func TestLengthsCountTheValueAsSent(t *testing.T) {
	for name, tc := range map[string]struct {
		in string
		ok bool
	}{
		"at the limit":             {strings.Repeat("é", MaxSubjectLen), true},
		"over it":                  {strings.Repeat("é", MaxSubjectLen+1), false},
		"at it once trimmed, over": {strings.Repeat("a", MaxSubjectLen) + "\n", false},
		"trimmed within it":        {" " + strings.Repeat("a", MaxSubjectLen-2) + " ", true},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := checkLine("subject", tc.in, MaxSubjectLen, true); (err == nil) != tc.ok {
				t.Errorf("checkLine(%d characters) = %v, want ok %v", len([]rune(tc.in)), err, tc.ok)
			}
		})
	}
}
