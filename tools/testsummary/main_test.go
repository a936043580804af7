package main

import (
	"os"
	"strings"
	"testing"
)

// testdata/go-test.jsonl is `go test -json -timeout 3s ./...` over four small packages:
// good (a pass, a skip, a table of two), bad (a table with a failing case), broken (does
// not build) and hang (a pass and a test that never ends).
func TestSummaryOfARealRun(t *testing.T) {
	in, err := os.Open("testdata/go-test.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out strings.Builder
	s := newSummary(&out)
	if err := s.read(in); err != nil {
		t.Fatal(err)
	}
	want := "tests: 11 run, 7 passed, 3 failed, 1 skipped; 1 package(s) failed outside any test (did not build, or crashed)"
	if got := s.line(); got != want {
		t.Errorf("summary\n got %q\nwant %q", got, want)
	}
	text := out.String()
	for _, must := range []string{
		"broken/broken_test.go:5:38: undefined: undefined", // the build error
		"bad_test.go:7: before the cases",                  // a failing test's log
		"bad_test.go:11: case wrong: got 1, want 2",
		"--- FAIL: TestTable/wrong",
		"FAIL\texample.com/tsmod/bad",
		"FAIL\texample.com/tsmod/broken [build failed]",
		"ok  \texample.com/tsmod/good",
		"panic: test timed out after 3s",
	} {
		if !strings.Contains(text, must) {
			t.Errorf("the output lacks %q:\n%s", must, text)
		}
	}
	for _, mustNot := range []string{"=== RUN", "quiet unless it fails", "\nPASS\n"} {
		if strings.Contains(text, mustNot) {
			t.Errorf("the output has %q, which plain go test does not print", mustNot)
		}
	}
	// What a test that never ended said comes before its package's FAIL line.
	if strings.Index(text, "waiting forever") > strings.Index(text, "FAIL\texample.com/tsmod/hang") {
		t.Errorf("the hung test's output follows its package's FAIL line:\n%s", text)
	}
}

func TestSummaryOfAPassingRun(t *testing.T) {
	stream := `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Output":"PASS\n"}
{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}
{"Action":"pass","Package":"p"}
go: downloading example.com/x v1.0.0
`
	var out strings.Builder
	s := newSummary(&out)
	if err := s.read(strings.NewReader(stream)); err != nil {
		t.Fatal(err)
	}
	if got, want := s.line(), "tests: 1 run, 1 passed, 0 failed, 0 skipped"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if got, want := out.String(), "ok  \tp\t0.1s\ngo: downloading example.com/x v1.0.0\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if s.failed != 0 || s.brokenPackages != 0 {
		t.Error("a passing run counts as failed")
	}
}
