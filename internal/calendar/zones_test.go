package calendar

import (
	"archive/zip"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // every zone loads, whatever the machine has installed
)

var update = flag.Bool("update", false, "rewrite testdata/zones.txt from the Go toolchain's time zone database")

const zonesFile = "testdata/zones.txt"

// zones returns every zone name of the tz database the Go toolchain embeds (time/tzdata),
// as checked in.
func zones(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(zonesFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// TestZoneListIsTheToolchains keeps testdata/zones.txt equal to the names in
// $GOROOT/lib/time/zoneinfo.zip, the archive time/tzdata embeds, so that the property
// test covers every zone of the Go in use (go test -run ZoneList -update rewrites it).
func TestZoneListIsTheToolchains(t *testing.T) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Skipf("no go command to find the toolchain's zoneinfo.zip: %v", err)
	}
	z, err := zip.OpenReader(filepath.Join(strings.TrimSpace(string(out)), "lib", "time", "zoneinfo.zip"))
	if err != nil {
		t.Skipf("the toolchain's zoneinfo.zip: %v", err)
	}
	defer z.Close()
	var names []string
	for _, f := range z.File {
		if !strings.HasSuffix(f.Name, "/") {
			names = append(names, f.Name)
		}
	}
	slices.Sort(names)
	if *update {
		if err := os.WriteFile(zonesFile, []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := zones(t); !slices.Equal(got, names) {
		t.Fatalf("%s lists %d zones, the toolchain %d: run go test ./internal/calendar -run ZoneList -update", zonesFile, len(got), len(names))
	}
	for _, name := range names {
		if _, err := time.LoadLocation(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
