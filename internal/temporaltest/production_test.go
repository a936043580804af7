package temporaltest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/threada/threada/internal/contract"
)

// TestScriptRegistersTheSearchAttributes: scripts/temporal-server.sh registers exactly the
// search attributes the workflows set, so a production server it sets up accepts their
// starts.
func TestScriptRegistersTheSearchAttributes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "scripts", "temporal-server.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^search_attributes=\(([^)]*)\)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no search_attributes=(...) line in scripts/temporal-server.sh")
	}
	if got := strings.Fields(string(m[1])); !slices.Equal(got, contract.SearchAttributeNames) {
		t.Errorf("scripts/temporal-server.sh registers %v; the workflows set %v", got, contract.SearchAttributeNames)
	}
}
