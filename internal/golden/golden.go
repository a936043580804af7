// Package golden compares a test's output with a file recorded under testdata, so that
// text people read (explanations, rendered requests, error messages) cannot change by a
// byte unnoticed. Generated IDs are numbered in order of appearance and (unless the test
// fixed them) instants blanked before comparing; UPDATE_GOLDEN=1 records the output instead.
package golden

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	generatedID = regexp.MustCompile(`\b(tkt|evt|ten|aut|key|act|msg|run|slp|req)_[0-9a-z]{26}\b`)
	instant     = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`)
)

// Normalize numbers the generated IDs in s per prefix, in order of appearance (tkt_#1,
// tkt_#2, ...), and replaces instants with <time>.
func Normalize(s string) string {
	return instant.ReplaceAllString(numberIDs(s), "<time>")
}

// numberIDs numbers the generated IDs in s per prefix, in order of appearance.
func numberIDs(s string) string {
	seen := map[string]string{}
	counts := map[string]int{}
	return generatedID.ReplaceAllStringFunc(s, func(id string) string {
		if n, ok := seen[id]; ok {
			return n
		}
		prefix, _, _ := strings.Cut(id, "_")
		counts[prefix]++
		seen[id] = fmt.Sprintf("%s_#%d", prefix, counts[prefix])
		return seen[id]
	})
}

// Check compares got, normalized, with testdata/<name>.golden and fails at the first line
// that differs.
func Check(t testing.TB, name, got string) {
	t.Helper()
	compare(t, name, Normalize(got))
}

// CheckWithTimes is Check for output whose instants are fixed by the test: only the IDs
// are numbered.
func CheckWithTimes(t testing.TB, name, got string) {
	t.Helper()
	compare(t, name, numberIDs(got))
}

func compare(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got == string(want) {
		return
	}
	gotLines, wantLines := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gotLines), len(wantLines)) {
		var g, w string
		if i < len(gotLines) {
			g = gotLines[i]
		}
		if i < len(wantLines) {
			w = wantLines[i]
		}
		if g != w {
			t.Fatalf("%s differs from the recorded output at line %d:\ngot:  %s\nwant: %s", path, i+1, g, w)
		}
	}
}
