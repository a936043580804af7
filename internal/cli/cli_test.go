package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// TestUsage: help prints the usage; a call that names no command the CLI knows, or that
// misses what a command needs, is a usage error (main exits 2) before anything is opened.
// The commands themselves are tested end to end in the api binary's tests.
func TestUsage(t *testing.T) {
	env := func(string) string { return "" }
	var out bytes.Buffer
	if err := Run(context.Background(), []string{"help"}, env, &out, &out, Binary{}); err != nil || !strings.Contains(out.String(), "api tenant offboard") {
		t.Fatalf("help: %v %q", err, out.String())
	}
	for _, args := range [][]string{
		{"frobnicate"},
		{"tenant"},
		{"tenant", "offboard"},
		{"tenant", "offboard", "ten_00000000000000000000000000"},
		{"tenant", "offboard", "ten_00000000000000000000000000", "--confirm", "ten_00000000000000000000000001"},
		{"tenant", "rotate-data-key"},
		{"tenant", "rotate-data-key", "not-a-tenant"},
	} {
		if err := Run(context.Background(), args, env, &out, &out, Binary{}); !errors.Is(err, ErrUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
