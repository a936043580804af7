package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/threada/threada/internal/temporaltest"
)

// TestREADMEThroughPrism replays the README's curl examples, as printed, through Stoplight
// Prism's validating proxy (pinned in tools/openapi-lint) in front of the real API, worker
// and echo receiver, as `make dev` runs them: Prism checks every request and response
// against the OpenAPI document and reports what does not match in an sl-violations
// header and its log; there must be none. It skips without Node.js, saying so, unless
// REQUIRE_OPENAPI_LINT=1 (.ci/run), and without curl or jq, which the examples use.
func TestREADMEThroughPrism(t *testing.T) {
	for _, tool := range []string{"node", "npm", "curl", "jq", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("%s is not installed, so the README's examples were not replayed through Prism (install nodejs, npm, curl and jq)", tool)
			if os.Getenv("REQUIRE_OPENAPI_LINT") == "1" {
				t.Fatal(msg)
			}
			t.Skip("SKIPPED: " + msg)
		}
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(root, "scripts", "openapi-tools.sh")).Output()
	if err != nil {
		t.Fatalf("installing the OpenAPI tools: %v", err)
	}
	prismBin := filepath.Join(strings.TrimSpace(string(out)), "prism")

	// What `make dev` runs: a demo tenant whose actions go to the echo receiver, the
	// worker and the API, on a throwaway database.
	ts := temporaltest.Shared(t)
	e, dsn := envOnURL(t, ts.Addr)
	echoAddr := freeAddr(t)
	cliEnv := append(os.Environ(), "DATABASE_URL="+dsn, "SECRETS_KEY="+e.cfg.SecretsKey)
	cli := func(args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command(apiBinary(t), args...)
		cmd.Env = cliEnv
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("api %v: %v", args, err)
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("api %v: %v\n%s", args, err, out)
		}
		return v
	}
	tenant := cli("tenant", "create", "--name", "Demo", "--actions-base-url", "http://"+echoAddr)
	key := cli("key", "create", "--tenant", tenant["tenant_id"].(string), "--name", "demo",
		"--scopes", "support.read,support.write,support.actions")
	echo := exec.Command(buildBinary(t, "github.com/threada/threada/worker"), "echo-receiver", "--addr", echoAddr)
	echo.Env = append(os.Environ(), "WEBHOOK_SECRET="+tenant["signing_secret"].(string))
	if err := echo.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = echo.Process.Kill(); _ = echo.Wait() })
	w := startWorker(t, e, dsn, ts.Addr)
	api := startAPI(t, dsn, "TEMPORAL_ADDRESS="+ts.Addr, "TEMPORAL_TASK_QUEUE="+e.cfg.TaskQueue, "SECRETS_KEY="+e.cfg.SecretsKey)

	proxyAddr := freeAddr(t)
	host, port, _ := net.SplitHostPort(proxyAddr)
	prismLog := &syncBuffer{}
	prism := exec.Command(prismBin, "proxy", filepath.Join(root, "api", "openapi.yaml"), api.base, "--host", host, "--port", port)
	prism.Dir = filepath.Join(root, "tools", "openapi-lint")
	prism.Stdout, prism.Stderr = prismLog, prismLog
	if err := prism.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prism.Process.Kill(); _ = prism.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.Dial("tcp", proxyAddr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prism did not start:\n%s", prismLog)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The README's shell blocks that call the API, in order, in one shell, against the
	// proxy; curl records each answer's status and any sl-violations header.
	blocks := readmeCurlBlocks(t, filepath.Join(root, "README.md"))
	calls := filepath.Join(t.TempDir(), "calls")
	script := `set -uo pipefail
curl() {
	local h rc
	h=$(mktemp)
	command curl -D "$h" "$@"
	rc=$?
	printf '%s %s\n' "$(sed -n 's/^HTTP\/[0-9.]* \([0-9]*\).*/\1/p' "$h" | tail -1)" \
		"$(sed -n 's/^[Ss][Ll]-[Vv]iolations: *//p' "$h" | tr -d '\r')" >>"$CALLS"
	rm -f "$h"
	return $rc
}
` + strings.NewReplacer("http://127.0.0.1:8080", "http://"+proxyAddr, "bin/api ", apiBinary(t)+" ").Replace(strings.Join(blocks, "\n"))
	sh := exec.Command("bash", "-c", script)
	sh.Env = append(cliEnv, "CALLS="+calls, "THREADA_API_KEY="+key["api_key"].(string), "THREADA_TENANT_ID="+tenant["tenant_id"].(string))
	shOut, err := sh.CombinedOutput()
	if err != nil {
		t.Errorf("the README's examples failed: %v\n%s", err, shOut)
	}
	// A control: a request the document refuses (status is an enum) must be reported, or
	// the checks below prove nothing.
	control := exec.Command("curl", "-s", "-o", "/dev/null", "-D", "-", "http://"+proxyAddr+"/api/v1/public/tickets?status=bogus",
		"-H", "X-Api-Key: "+key["api_key"].(string))
	if out, err := control.Output(); err != nil || !regexp.MustCompile(`(?im)^sl-violations: .*status`).Match(out) {
		t.Errorf("Prism reported no violation for a request the document refuses (%v):\n%s", err, out)
	}

	data, err := os.ReadFile(calls)
	if err != nil {
		t.Fatalf("no call went through the proxy: %v\n%s", err, shOut)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if want := strings.Count(strings.Join(blocks, "\n"), "curl -s"); len(lines) != want {
		t.Errorf("%d calls went through the proxy, want the README's %d", len(lines), want)
	}
	for i, l := range lines {
		status, violations, _ := strings.Cut(l, " ")
		if status == "" || status[0] == '5' {
			t.Errorf("call %d answered %q", i+1, status)
		}
		if violations != "" {
			t.Errorf("call %d (%s): Prism reports %s", i+1, status, violations)
		}
	}
	// Its log names them too (errors and warnings): the control's must be the only one.
	for _, l := range strings.Split(prismLog.String(), "\n") {
		if strings.Contains(l, "Violation:") && !strings.Contains(l, "request.query.status") {
			t.Errorf("Prism logged: %s", l)
		}
	}
	if t.Failed() {
		t.Logf("examples' output:\n%s\nPrism:\n%s\nAPI:\n%s\nworker:\n%s", shOut, prismLog, api.logs, w.logs)
	}
}

// readmeCurlBlocks returns the README's ```sh blocks that call the API (make dev's
// address), in order.
func readmeCurlBlocks(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []string
	var cur *strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && line == "```sh":
			cur = &strings.Builder{}
		case cur != nil && strings.HasPrefix(line, "```"):
			if b := cur.String(); strings.Contains(b, "curl ") && strings.Contains(b, "http://127.0.0.1:8080") {
				blocks = append(blocks, b)
			}
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	if len(blocks) < 5 || !regexp.MustCompile(`/actions`).MatchString(strings.Join(blocks, "")) {
		t.Fatalf("found %d README blocks with curl examples; expected the Try it section's and more", len(blocks))
	}
	return blocks
}
