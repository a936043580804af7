package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/threada/threada/internal/fairness"
)

// TestFairnessConfiguredEverywhere: every Temporal server Threada runs on (make dev's dev
// server, Temporal's own server for production and the topology test, compose's) runs with
// the dynamic config that turns priority and fairness on; without it the priority and
// fairness keys every workflow carries are ignored.
func TestFairnessConfiguredEverywhere(t *testing.T) {
	read := func(file string) string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(root(t), file))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	const file = "deploy/temporal-dynamicconfig.yaml"
	yaml, dev := read(file), read("scripts/temporal.sh")
	for _, s := range fairness.DynamicConfig {
		if !strings.Contains(yaml, s.Key+":\n  - value: "+s.Value+"\n") {
			t.Errorf("%s does not set %s to %s", file, s.Key, s.Value)
		}
		if !strings.Contains(dev, "--dynamic-config-value "+s.Key+"="+s.Value) {
			t.Errorf("scripts/temporal.sh does not start the dev server with %s=%s", s.Key, s.Value)
		}
	}
	if !strings.Contains(read("scripts/temporal-server.sh"), "filepath: \"$root/"+file+"\"") {
		t.Errorf("scripts/temporal-server.sh does not point the server's dynamicConfigClient at %s", file)
	}
	p, err := loadCompose(t, map[string]string{"POSTGRES_PASSWORD": "pw", "THREADA_SECRETS_KEY": "a2V5"})
	if err != nil {
		t.Fatal(err)
	}
	svc := p.Services["temporal"]
	path := svc.Environment["DYNAMIC_CONFIG_FILE_PATH"]
	if path == nil {
		t.Fatal("compose's temporal service sets no DYNAMIC_CONFIG_FILE_PATH")
	}
	mounted := false
	for _, v := range svc.Volumes {
		if v.Source == filepath.Join(root(t), file) && v.Target == *path && v.ReadOnly {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("compose's temporal service does not mount %s read-only at %s: %+v", file, *path, svc.Volumes)
	}
}
