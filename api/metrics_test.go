package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/threada/threada/internal/temporaltest"
)

// scrape reads a /metrics endpoint.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return mfs
}

// sample is the value of the series of family name whose labels include want: a
// counter's or gauge's value, a histogram's count; -1 when there is no such series.
func sample(mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	mf, ok := mfs[name]
	if !ok {
		return -1
	}
	total, found := 0.0, false
series:
	for _, m := range mf.GetMetric() {
		l := labelsOf(m)
		for k, v := range want {
			if l[k] != v {
				continue series
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	if !found {
		return -1
	}
	return total
}

// TestMetricsEndpoints runs the API and the worker binaries with METRICS_ADDR, sends an
// action through them and scrapes both: every documented metric name is there, and the
// action shows in them (its request by route, its attempt by outcome and destination, the
// Temporal SDK's own metrics). The worker also answers its health checks there.
func TestMetricsEndpoints(t *testing.T) {
	ts := temporaltest.Shared(t)
	e, dsn := envOnURL(t, ts.Addr)
	rc := newReceiver(t, nil)
	f := e.actionFixture(rc.URL)
	apiMetrics, workerMetrics := freeAddr(t), freeAddr(t)
	common := []string{"TEMPORAL_ADDRESS=" + ts.Addr, "TEMPORAL_TASK_QUEUE=" + e.cfg.TaskQueue, "SECRETS_KEY=" + e.cfg.SecretsKey}
	w := startWorker(t, e, dsn, ts.Addr, "METRICS_ADDR="+workerMetrics)
	api := startAPI(t, dsn, append(common, "METRICS_ADDR="+apiMetrics, "RATE_LIMIT_UNAUTHENTICATED_RPS=1")...)

	body, _ := json.Marshal(referenceAction())
	hreq, _ := http.NewRequest("POST", api.base+"/api/v1/public/tickets/"+f.ticket+"/actions", bytes.NewReader(body))
	hreq.Header.Set("X-Api-Key", f.key)
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Prefer", "wait=20")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(out), `"status":"succeeded"`) {
		t.Fatalf("action: %d %s\napi:\n%s\nworker:\n%s", resp.StatusCode, out, api.logs, w.logs)
	}
	// Unauthenticated requests past 1/s (bursts of 2) are refused.
	for range 4 {
		if r, err := http.Get(api.base + "/api/v1/public/tickets"); err == nil {
			r.Body.Close()
		}
	}

	am := scrape(t, "http://"+apiMetrics+"/metrics")
	for _, c := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"threada_http_request_duration_seconds", map[string]string{"route": "/api/v1/public/tickets/:ticket_id/actions", "method": "POST", "status": "201"}, 1},
		{"threada_rate_limit_refusals_total", map[string]string{"limit": "unauthenticated"}, 1},
		{"threada_rate_limit_refusals_total", map[string]string{"limit": "key"}, 0},
		{"go_sql_in_use_connections", map[string]string{"db_name": "threada"}, 0},
		{"go_sql_idle_connections", map[string]string{"db_name": "threada"}, 1},
		{"go_sql_wait_count_total", map[string]string{"db_name": "threada"}, 0},
		{"go_sql_wait_duration_seconds_total", map[string]string{"db_name": "threada"}, 0},
		{"temporal_request_total", map[string]string{"operation": "StartWorkflowExecution"}, 1},
		{"temporal_request_latency_seconds", map[string]string{"operation": "StartWorkflowExecution"}, 1},
		{"go_goroutines", nil, 1},
		{"process_resident_memory_bytes", nil, 1},
	} {
		if got := sample(am, c.name, c.labels); got < c.min {
			t.Errorf("API: %s%v = %v, want at least %v", c.name, c.labels, got, c.min)
		}
	}

	wm := scrape(t, "http://"+workerMetrics+"/metrics")
	dest := "http://" + strings.TrimPrefix(rc.URL, "http://")
	for _, c := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"threada_action_attempts_total", map[string]string{"outcome": "succeeded"}, 1},
		{"threada_action_attempts_total", map[string]string{"outcome": "failed"}, 0},
		{"threada_actions_finished_total", map[string]string{"status": "succeeded"}, 1},
		{"threada_action_attempt_duration_seconds", map[string]string{"destination": dest}, 1},
		{"threada_automation_evaluations_total", map[string]string{"result": "matched"}, 0},
		{"threada_automation_budget_failures_total", map[string]string{"budget": "rule"}, 0},
		{"threada_outbox_pending_events", nil, 0},
		{"threada_outbox_oldest_pending_age_seconds", nil, 0},
		{"threada_destination_circuits", map[string]string{"state": "closed"}, 1},
		{"threada_destination_circuits", map[string]string{"state": "open"}, 0},
		{"go_sql_in_use_connections", map[string]string{"db_name": "threada"}, 0},
		{"go_sql_wait_count_total", map[string]string{"db_name": "threada"}, 0},
		{"temporal_worker_start_total", nil, 1},
		{"temporal_workflow_completed_total", map[string]string{"workflow_type": "CustomHTTPAction"}, 1},
		{"temporal_activity_execution_latency_seconds", map[string]string{"activity_type": "SendAttempt"}, 1},
		{"temporal_num_pollers", nil, 0},
	} {
		if got := sample(wm, c.name, c.labels); got < c.min {
			t.Errorf("worker: %s%v = %v, want at least %v", c.name, c.labels, got, c.min)
		}
	}
	if t.Failed() {
		t.Logf("worker logs:\n%s", w.logs)
	}

	// The worker's health checks, and the CLI that containers run.
	for path, want := range map[string]string{"/livez": `"status":"ok"`, "/readyz": `"status":"ready"`} {
		r, err := http.Get("http://" + workerMetrics + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("worker %s: %d %s", path, r.StatusCode, b)
		}
	}
	hc := exec.Command(buildBinary(t, "github.com/threada/threada/worker"), "healthcheck")
	hc.Env = append(hc.Environ(), "METRICS_ADDR="+workerMetrics)
	if out, err := hc.CombinedOutput(); err != nil {
		t.Errorf("worker healthcheck: %v %s", err, out)
	}
	hc = exec.Command(buildBinary(t, "github.com/threada/threada/worker"), "healthcheck")
	hc.Env = append(hc.Environ(), "METRICS_ADDR="+freeAddr(t))
	if out, err := hc.CombinedOutput(); err == nil {
		t.Errorf("worker healthcheck passed with no worker there: %s", out)
	}
}

// otlpCollector records the spans OTLP/HTTP exporters send it, by service name.
type otlpCollector struct {
	*httptest.Server
	mu    sync.Mutex
	spans map[string][]*tracepb.Span // service.name -> spans
}

func newOTLPCollector(t *testing.T) *otlpCollector {
	c := &otlpCollector{spans: map[string][]*tracepb.Span{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req collectorpb.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, rs := range req.GetResourceSpans() {
			service := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				c.spans[service] = append(c.spans[service], ss.GetSpans()...)
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(c.Close)
	return c
}

// traceIDs returns the trace ids of a service's spans, and their names.
func (c *otlpCollector) traceIDs(service string) (map[string]bool, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids, names := map[string]bool{}, []string{}
	for _, s := range c.spans[service] {
		ids[hex.EncodeToString(s.GetTraceId())] = true
		names = append(names, s.GetName())
	}
	return ids, names
}

// TestBinariesExportTracesOverOTLP: set OTEL_EXPORTER_OTLP_ENDPOINT and the API and the
// worker export their spans over OTLP/HTTP, each under its service name, in the trace of
// the request's traceparent.
func TestBinariesExportTracesOverOTLP(t *testing.T) {
	ts := temporaltest.Shared(t)
	e, dsn := envOnURL(t, ts.Addr)
	rc := newReceiver(t, nil)
	f := e.actionFixture(rc.URL)
	col := newOTLPCollector(t)
	otel := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + col.URL, "OTEL_BSP_SCHEDULE_DELAY=100"}
	startWorker(t, e, dsn, ts.Addr, otel...)
	api := startAPI(t, dsn, append(otel, "TEMPORAL_ADDRESS="+ts.Addr, "TEMPORAL_TASK_QUEUE="+e.cfg.TaskQueue, "SECRETS_KEY="+e.cfg.SecretsKey)...)

	const traceID = "0af7651916cd43dd8448eb211c80319c"
	body, _ := json.Marshal(referenceAction())
	hreq, _ := http.NewRequest("POST", api.base+"/api/v1/public/tickets/"+f.ticket+"/actions", bytes.NewReader(body))
	hreq.Header.Set("X-Api-Key", f.key)
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Prefer", "wait=20")
	hreq.Header.Set("traceparent", "00-"+traceID+"-b7ad6b7169203331-01")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("action: %d", resp.StatusCode)
	}

	var apiNames, workerNames []string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		apiIDs, an := col.traceIDs("threada-api")
		workerIDs, wn := col.traceIDs("threada-worker")
		apiNames, workerNames = an, wn
		// Spans arrive as they end, a parent after its children: wait for all of them.
		if apiIDs[traceID] && workerIDs[traceID] && slices.Contains(wn, "POST") && slices.Contains(wn, "RunActivity:SendAttempt") &&
			slices.Contains(an, "POST /api/v1/public/tickets/:ticket_id/actions") && slices.Contains(an, "StartWorkflow:CustomHTTPAction") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spans of trace %s did not arrive from both processes\napi: %v\nworker: %v", traceID, apiNames, workerNames)
		}
	}
	if !slices.Contains(apiNames, "POST /api/v1/public/tickets/:ticket_id/actions") || !slices.Contains(apiNames, "StartWorkflow:CustomHTTPAction") {
		t.Errorf("the API's spans: %v", apiNames)
	}
	if !slices.Contains(workerNames, "RunActivity:SendAttempt") {
		t.Errorf("the worker's spans: %v", workerNames)
	}
	if got := rc.requests(); len(got) != 1 || !strings.Contains(got[0].Header.Get("traceparent"), traceID) {
		t.Errorf("the receiver's traceparent: %v", got)
	}
}
