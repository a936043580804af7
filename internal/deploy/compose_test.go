package deploy

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/threada/threada/internal/contract"
)

func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func loadCompose(t *testing.T, env map[string]string) (*types.Project, error) {
	t.Helper()
	dir := root(t)
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "docker-compose.yml")}},
		Environment: env,
	}, func(o *loader.Options) { o.SetProjectName("threada", true) })
}

func TestComposeDescribesProduction(t *testing.T) {
	p, err := loadCompose(t, map[string]string{"POSTGRES_PASSWORD": "pw", "THREADA_SECRETS_KEY": "a2V5"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"postgres", "temporal", "temporal-ui", "temporal-search-attributes", "migrate", "api", "worker"} {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("no %s service", name)
		}
	}

	dependsOn := func(svc, on, condition string) {
		t.Helper()
		d, ok := p.Services[svc].DependsOn[on]
		if !ok || d.Condition != condition {
			t.Errorf("%s should depend on %s (%s); has %+v", svc, on, condition, p.Services[svc].DependsOn)
		}
	}
	dependsOn("temporal", "postgres", types.ServiceConditionHealthy)
	dependsOn("migrate", "postgres", types.ServiceConditionHealthy)
	dependsOn("api", "migrate", types.ServiceConditionCompletedSuccessfully)
	dependsOn("api", "postgres", types.ServiceConditionHealthy)
	dependsOn("worker", "migrate", types.ServiceConditionCompletedSuccessfully)
	dependsOn("worker", "temporal", types.ServiceConditionHealthy)
	dependsOn("worker", "temporal-search-attributes", types.ServiceConditionCompletedSuccessfully)
	dependsOn("temporal-ui", "temporal", types.ServiceConditionHealthy)

	for _, svc := range []string{"postgres", "temporal", "api", "worker"} {
		if hc := p.Services[svc].HealthCheck; hc == nil || len(hc.Test) == 0 {
			t.Errorf("%s has no health check", svc)
		}
	}
	// The API's and the worker's checks ask their /readyz (the images have no curl); the
	// worker serves it on METRICS_ADDR, as both serve their metrics.
	for _, svc := range []string{"api", "worker"} {
		if test := []string(p.Services[svc].HealthCheck.Test); !slices.Equal(test, []string{"CMD", svc, "healthcheck"}) {
			t.Errorf("%s health check %v", svc, test)
		}
		if addr := deref(p.Services[svc].Environment["METRICS_ADDR"]); addr != "0.0.0.0:9464" {
			t.Errorf("%s METRICS_ADDR %q", svc, addr)
		}
	}
	ports := func(svc string) []string {
		var out []string
		for _, pc := range p.Services[svc].Ports {
			out = append(out, pc.Published+":"+itoa(pc.Target))
		}
		return out
	}
	if got := ports("api"); !slices.Contains(got, "8080:8080") {
		t.Errorf("api ports %v", got)
	}
	if got := ports("temporal-ui"); !slices.Contains(got, "8233:8080") {
		t.Errorf("temporal-ui ports %v", got)
	}

	// Temporal persists in PostgreSQL.
	if env := p.Services["temporal"].Environment; deref(env["DB"]) != "postgres12" || deref(env["POSTGRES_SEEDS"]) != "postgres" {
		t.Errorf("temporal is not on PostgreSQL: %v", env)
	}
	// The migration runs once; the API and the worker get the settings they need.
	if r := p.Services["migrate"].Restart; r != "no" {
		t.Errorf("migrate restart %q", r)
	}
	if cmd := p.Services["migrate"].Command; !slices.Equal([]string(cmd), []string{"api", "migrate"}) {
		t.Errorf("migrate command %v", cmd)
	}
	if cmd := p.Services["worker"].Command; !slices.Equal([]string(cmd), []string{"worker"}) {
		t.Errorf("worker command %v", cmd)
	}
	for _, svc := range []string{"api", "worker", "migrate"} {
		env := p.Services[svc].Environment
		for _, k := range []string{"DATABASE_URL", "TEMPORAL_ADDRESS", "SECRETS_KEY"} {
			if deref(env[k]) == "" {
				t.Errorf("%s lacks %s", svc, k)
			}
		}
		if !strings.Contains(deref(env["DATABASE_URL"]), "@postgres:5432/threada") {
			t.Errorf("%s DATABASE_URL %q", svc, deref(env["DATABASE_URL"]))
		}
	}
	if deref(p.Services["api"].Environment["HTTP_ADDR"]) != "0.0.0.0:8080" {
		t.Error("the API does not listen on all interfaces in its container")
	}
}

// TestComposeRequiresSecrets: the file refuses to load without the password and the
// secrets key rather than run with empty ones.
func TestComposeRequiresSecrets(t *testing.T) {
	if _, err := loadCompose(t, map[string]string{"POSTGRES_PASSWORD": "pw"}); err == nil || !strings.Contains(err.Error(), "THREADA_SECRETS_KEY") {
		t.Errorf("loaded without THREADA_SECRETS_KEY: %v", err)
	}
}

func TestDockerfileIsMultiStage(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	from := regexp.MustCompile(`(?m)^FROM `).FindAllIndex(data, -1)
	if len(from) < 2 {
		t.Errorf("%d FROM lines; want a build stage and a runtime stage", len(from))
	}
	for _, want := range []string{"./api", "./worker", "COPY --from=build"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// TestSearchAttributesRegisteredEverywhere: every search attribute action workflows set is
// registered wherever a Temporal server is set up, or starts carrying it would be refused.
func TestSearchAttributesRegisteredEverywhere(t *testing.T) {
	for _, file := range []string{"docker-compose.yml", "scripts/temporal.sh", "scripts/temporal-server.sh"} {
		data, err := os.ReadFile(filepath.Join(root(t), file))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range contract.SearchAttributeNames {
			if !regexp.MustCompile(`\b` + name + `\b`).Match(data) {
				t.Errorf("%s does not register the search attribute %s", file, name)
			}
		}
	}
}
