package main

import (
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/threada/threada/internal/ratelimit"
	"github.com/threada/threada/internal/telemetry"
	"github.com/threada/threada/internal/temporaltest"
)

// gathered returns the series of the metric family name, by their labels.
func gathered(t *testing.T, m *telemetry.Metrics, name string) []*dto.Metric {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()
		}
	}
	return nil
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// TestRequestMetricsByRoute: requests are counted by method, route pattern and status,
// never by raw path (unmatched paths share one label), and rate-limit refusals by the
// limit that refused them.
func TestRequestMetricsByRoute(t *testing.T) {
	e := newTestEnv(t)
	m := telemetry.NewMetrics(telemetry.ProcessAPI)
	e.srv.tel = &telemetry.Telemetry{Metrics: m}
	e.srv.limiter = ratelimit.New(1, 0, 1) // 1/s per key, bursts of 2
	e.srv.limiter.Metrics = m
	_, key := e.tenantWithKey()
	for _, r := range []req{
		{method: "GET", path: "/api/v1/public/tickets/tkt_missing1", key: key},
		{method: "GET", path: "/api/v1/public/tickets/tkt_missing2", key: key},
		{method: "GET", path: "/api/v1/public/tickets/tkt_missing3", key: key}, // over the limit
		{method: "GET", path: "/no/such/path/1"},
		{method: "GET", path: "/no/such/path/2"},
		{method: "GET", path: "/livez"},
	} {
		e.do(r)
	}
	counts := map[[3]string]uint64{}
	for _, s := range gathered(t, m, "threada_http_request_duration_seconds") {
		l := labelsOf(s)
		counts[[3]string{l["method"], l["route"], l["status"]}] += s.GetHistogram().GetSampleCount()
	}
	want := map[[3]string]uint64{
		{"GET", "/api/v1/public/tickets/:ticket_id", "404"}: 2,
		{"GET", "/api/v1/public/tickets/:ticket_id", "429"}: 1,
		{"GET", routeUnmatched, "404"}:                      2,
		{"GET", "/livez", "200"}:                            1,
	}
	if len(counts) != len(want) {
		t.Errorf("series %v, want %v", counts, want)
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%v: %d requests, want %d", k, counts[k], n)
		}
	}
	for _, s := range gathered(t, m, "threada_rate_limit_refusals_total") {
		want := map[string]float64{"key": 1}[labelsOf(s)["limit"]]
		if s.GetCounter().GetValue() != want {
			t.Errorf("refusals by %s: %v, want %v", labelsOf(s)["limit"], s.GetCounter().GetValue(), want)
		}
	}
}

// TestLivezAndReadyz: liveness checks nothing; readiness needs PostgreSQL (503 without it)
// and says whether Temporal answers, without failing on it.
func TestLivezAndReadyz(t *testing.T) {
	type ready struct {
		Status string
		Checks struct{ Postgres, Temporal string }
	}
	readyz := func(e *testEnv) (int, ready) {
		var r ready
		resp := e.do(req{method: "GET", path: "/readyz"})
		if resp.Status == http.StatusOK {
			resp.decode(t, &r)
		}
		return resp.Status, r
	}

	withTemporal := newEnvWithTemporal(t, temporaltest.Shared(t).Addr)
	if status, r := readyz(withTemporal); status != 200 || r.Checks.Postgres != "ok" || r.Checks.Temporal != "ok" {
		t.Errorf("with PostgreSQL and Temporal: %d %+v", status, r)
	}

	e := newTestEnv(t) // its Temporal address answers nothing
	if status, r := readyz(e); status != 200 || r.Status != "ready" || r.Checks.Temporal != "unreachable" {
		t.Errorf("without Temporal: %d %+v", status, r)
	}
	if resp := e.do(req{method: "GET", path: "/livez"}); resp.Status != 200 {
		t.Errorf("livez: %d %s", resp.Status, resp.Body)
	}
	_ = e.store.Close()
	if status, _ := readyz(e); status != http.StatusServiceUnavailable {
		t.Errorf("without PostgreSQL readyz answered %d", status)
	}
	if resp := e.do(req{method: "GET", path: "/livez"}); resp.Status != 200 {
		t.Errorf("livez without PostgreSQL: %d", resp.Status)
	}
	wantError(t, e.do(req{method: "GET", path: "/livez?verbose=1"}), 400, "invalid_request_error", "verbose")
}
