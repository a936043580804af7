package workflows

import (
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestWorkflowCodeStaysOffTheDatabase: the workflow code reaches PostgreSQL and the network
// only through activities, which Temporal records and retries; a workflow that imported
// the store (or a driver, or net/http) could do I/O no replay repeats.
func TestWorkflowCodeStaysOffTheDatabase(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{"github.com/threada/threada/internal/store", "github.com/uptrace/bun", "database/sql", "net/http"}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s imports %s", f, path)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no workflow files found")
	}
}

// TestWorkflowCodeReachesTheStoreOnlyThroughActivities: the packages the workflow code
// imports, and theirs in turn, do not include the store, but through the activities (which
// the Temporal pattern requires). The names, inputs and policy the workflows share with
// the runners that start them live in internal/contract for that reason.
func TestWorkflowCodeReachesTheStoreOnlyThroughActivities(t *testing.T) {
	const module = "github.com/threada/threada/"
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, imp := range strings.Fields(string(out)) {
		if !strings.HasPrefix(imp, module) || imp == module+"activities" {
			continue
		}
		deps, err := exec.Command("go", "list", "-deps", imp).Output()
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, d := range strings.Fields(string(deps)) {
			if d == module+"internal/store" || strings.HasPrefix(d, "github.com/uptrace/bun") {
				t.Errorf("the workflows import %s, which reaches %s", imp, d)
			}
		}
	}
	if checked == 0 {
		t.Fatal("the workflows import none of the module's packages: is this the right directory?")
	}
}
