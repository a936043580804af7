// Command testsummary reads `go test -json` on stdin, prints what plain `go test` would
// (each package's ok/FAIL line, and the whole output of every test that failed, without
// the -v framing), and ends with one line counting the tests run, passed, failed and
// skipped, subtests included:
//
//	go test -json ./... 2>&1 | go run ./tools/testsummary
//
// -summary FILE writes that line to FILE instead, for a script that prints it last, after
// other steps. The exit status is 1 when a test or a package failed.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	summaryFile := flag.String("summary", "", "write the summary line to this file instead of printing it")
	flag.Parse()
	s := newSummary(os.Stdout)
	if err := s.read(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	if *summaryFile == "" {
		fmt.Println(s.line())
	} else if err := os.WriteFile(*summaryFile, []byte(s.line()+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	if s.failed > 0 || s.brokenPackages > 0 {
		os.Exit(1)
	}
}

// event is one line of `go test -json` (test2json), build events included.
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type summary struct {
	out                     io.Writer
	passed, failed, skipped int
	brokenPackages          int                 // failed with no test failing: build error, crash outside a test
	buffered                map[string][]string // package + top-level test -> output lines
	packageOut              map[string][]string // package -> its own lines (ok, FAIL, ...)
	running                 map[string]bool     // package + test, started and not ended
	failedIn                map[string]int      // package -> tests failed
}

func newSummary(out io.Writer) *summary {
	return &summary{out: out, buffered: map[string][]string{}, running: map[string]bool{},
		failedIn: map[string]int{}, packageOut: map[string][]string{}}
}

// read consumes the stream; lines that are not JSON (a go command error) pass through.
func (s *summary) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintln(s.out, sc.Text())
			continue
		}
		s.handle(e)
	}
	return sc.Err()
}

// top is the key of a test's top-level test, whose buffer its subtests share, so a
// failure prints in the order `go test -v` would.
func top(pkg, test string) string {
	name, _, _ := strings.Cut(test, "/")
	return pkg + " " + name
}

func (s *summary) handle(e event) {
	switch e.Action {
	case "build-output":
		fmt.Fprint(s.out, e.Output)
		return
	case "build-fail":
		return // the package's own fail event follows
	}
	if e.Test == "" {
		s.packageEvent(e)
		return
	}
	key := e.Package + " " + e.Test
	switch e.Action {
	case "run":
		s.running[key] = true
	case "output":
		if !framing(e.Output) {
			t := top(e.Package, e.Test)
			s.buffered[t] = append(s.buffered[t], e.Output)
		}
	case "pass", "skip", "fail":
		delete(s.running, key)
		switch e.Action {
		case "pass":
			s.passed++
		case "skip":
			s.skipped++
		case "fail":
			s.failed++
			s.failedIn[e.Package]++
		}
		if !strings.Contains(e.Test, "/") {
			if e.Action == "fail" {
				s.flush(top(e.Package, e.Test))
			}
			delete(s.buffered, top(e.Package, e.Test))
		}
	}
}

// packageEvent prints a package's own lines (ok, FAIL, a panic outside a test) once it
// ends, after what its tests still running then (a timeout, a crash) said: those count as
// failed.
func (s *summary) packageEvent(e event) {
	switch e.Action {
	case "output":
		if e.Output != "PASS\n" {
			s.packageOut[e.Package] = append(s.packageOut[e.Package], e.Output)
		}
	case "pass", "skip":
		s.flushPackage(e.Package)
	case "fail":
		for key := range s.running {
			if pkg, test, _ := strings.Cut(key, " "); pkg == e.Package {
				delete(s.running, key)
				s.failed++
				s.failedIn[pkg]++
				if !strings.Contains(test, "/") {
					s.flush(top(pkg, test))
				}
			}
		}
		if s.failedIn[e.Package] == 0 {
			s.brokenPackages++
		}
		s.flushPackage(e.Package)
	}
}

func (s *summary) flushPackage(pkg string) {
	for _, line := range s.packageOut[pkg] {
		fmt.Fprint(s.out, line)
	}
	delete(s.packageOut, pkg)
}

func (s *summary) flush(key string) {
	for _, line := range s.buffered[key] {
		fmt.Fprint(s.out, line)
	}
	delete(s.buffered, key)
}

// framing tells the lines -json adds as -v does (=== RUN and the like), which plain
// `go test` does not print.
func framing(line string) bool {
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME"} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

// line is the closing count.
func (s *summary) line() string {
	run := s.passed + s.failed + s.skipped
	l := fmt.Sprintf("tests: %d run, %d passed, %d failed, %d skipped", run, s.passed, s.failed, s.skipped)
	if s.brokenPackages > 0 {
		l += fmt.Sprintf("; %d package(s) failed outside any test (did not build, or crashed)", s.brokenPackages)
	}
	return l
}
