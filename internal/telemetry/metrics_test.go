package telemetry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/threada/threada/internal/store"
)

// family returns the gathered metric family called name, or nil.
func family(t *testing.T, m *Metrics, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestDestinationLabelsAreBounded: attempts to more destinations than MaxDestinationLabels
// keep a series each for the first ones and fold the rest into "other".
func TestDestinationLabelsAreBounded(t *testing.T) {
	m := NewMetrics(ProcessWorker)
	const extra = 10
	for i := range MaxDestinationLabels + extra {
		m.AttemptCall(fmt.Sprintf("https://h%d.example.com:443", i), 20*time.Millisecond)
	}
	m.AttemptCall("https://h0.example.com:443", 20*time.Millisecond) // a known one keeps its series
	mf := family(t, m, "threada_action_attempt_duration_seconds")
	if mf == nil {
		t.Fatal("no attempt duration histogram")
	}
	if got := len(mf.GetMetric()); got != MaxDestinationLabels+1 {
		t.Errorf("%d series, want %d", got, MaxDestinationLabels+1)
	}
	for _, s := range mf.GetMetric() {
		want := uint64(1)
		switch label(s, "destination") {
		case OtherDestination:
			want = extra
		case "https://h0.example.com:443":
			want = 2
		}
		if got := s.GetHistogram().GetSampleCount(); got != want {
			t.Errorf("%s: %d samples, want %d", label(s, "destination"), got, want)
		}
	}
}

// TestKnownSeriesExistAtStart: the counters a process records, whose label values are
// known, are exported at zero before anything happens, so alerts on them work from the
// start; the other process's are not.
func TestKnownSeriesExistAtStart(t *testing.T) {
	for process, want := range map[string]map[string]int{
		ProcessAPI: {"threada_rate_limit_refusals_total": 3},
		ProcessWorker: {"threada_automation_evaluations_total": 4, "threada_automation_budget_failures_total": 3,
			"threada_action_attempts_total": 4, "threada_actions_finished_total": 4},
	} {
		m := NewMetrics(process)
		for _, name := range []string{"threada_rate_limit_refusals_total", "threada_automation_evaluations_total",
			"threada_automation_budget_failures_total", "threada_action_attempts_total", "threada_actions_finished_total"} {
			if mf := family(t, m, name); len(mf.GetMetric()) != want[name] {
				t.Errorf("%s, %s: %d series, want %d", process, name, len(mf.GetMetric()), want[name])
			}
		}
	}
	m := NewMetrics(ProcessWorker)
	m.AttemptRecorded("failed", "retrying")
	m.AttemptRecorded("succeeded", "succeeded")
	m.AttemptRecorded("", "canceled")
	for _, s := range family(t, m, "threada_action_attempts_total").GetMetric() {
		want := map[string]float64{"failed": 1, "succeeded": 1}[label(s, "outcome")]
		if s.GetCounter().GetValue() != want {
			t.Errorf("attempts %s = %v, want %v", label(s, "outcome"), s.GetCounter().GetValue(), want)
		}
	}
	for _, s := range family(t, m, "threada_actions_finished_total").GetMetric() {
		want := map[string]float64{"succeeded": 1, "canceled": 1}[label(s, "status")]
		if s.GetCounter().GetValue() != want {
			t.Errorf("finished %s = %v, want %v", label(s, "status"), s.GetCounter().GetValue(), want)
		}
	}
}

// TestNilMetricsRecordNothing: code calls the metrics whether or not METRICS_ADDR is set.
func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.HTTPRequest("GET", "/x", 200, time.Millisecond)
	m.RateLimited("key")
	m.AutomationEvaluated("matched")
	m.BudgetExceeded("rule")
	m.AttemptCall("https://h.example.com:443", time.Millisecond)
	m.AttemptRecorded("succeeded", "succeeded")
	m.ObserveDB(nil)
	m.ObserveStore(nil, nil)
	h := m.TemporalHandler().WithTags(map[string]string{"namespace": "default"})
	h.Counter("temporal_request").Inc(1)
	h.Timer("temporal_request_latency").Record(time.Second)
	h.Gauge("temporal_num_pollers").Update(2)
}

// TestStoreGaugesAreReadAtScrapeTime: the backlog, the age of its oldest event and the
// circuits come from the read function, at most once per TTL, each read with a deadline;
// a failed read leaves the series out rather than export stale or zero figures.
func TestStoreGaugesAreReadAtScrapeTime(t *testing.T) {
	m := NewMetrics(ProcessWorker)
	oldest := time.Now().Add(-90 * time.Second)
	reads := 0
	fail := false
	c := &storeCollector{ttl: time.Hour, read: func(ctx context.Context) (store.Gauges, error) {
		reads++
		if _, ok := ctx.Deadline(); !ok {
			t.Error("the read has no deadline")
		}
		if fail {
			return store.Gauges{}, errors.New("database unreachable")
		}
		return store.Gauges{PendingEvents: 7, OldestPending: &oldest, OpenCircuits: 2, ClosedCircuits: 5}, nil
	}}
	m.Registry.MustRegister(c)
	if mf := family(t, m, "threada_outbox_pending_events"); mf == nil || mf.GetMetric()[0].GetGauge().GetValue() != 7 {
		t.Errorf("pending events: %v", mf)
	}
	if age := family(t, m, "threada_outbox_oldest_pending_age_seconds").GetMetric()[0].GetGauge().GetValue(); age < 89 || age > 120 {
		t.Errorf("oldest pending age %v s, want about 90", age)
	}
	for _, s := range family(t, m, "threada_destination_circuits").GetMetric() {
		if want := map[string]float64{"open": 2, "closed": 5}[label(s, "state")]; s.GetGauge().GetValue() != want {
			t.Errorf("circuits %s = %v, want %v", label(s, "state"), s.GetGauge().GetValue(), want)
		}
	}
	if reads != 1 {
		t.Errorf("%d reads for three scrapes within the TTL, want 1", reads)
	}

	c.ttl, fail = 0, true
	if mf := family(t, m, "threada_outbox_pending_events"); mf != nil {
		t.Errorf("after a failed read the backlog is still exported: %v", mf)
	}
	fail = false
	if mf := family(t, m, "threada_outbox_pending_events"); mf == nil {
		t.Error("the backlog did not come back after a good read")
	}
}

// TestTemporalHandler: the SDK's counters, timers and gauges become Prometheus series with
// the SDK's tags as labels, even when one name is tagged differently in two places.
func TestTemporalHandler(t *testing.T) {
	m := NewMetrics(ProcessWorker)
	root := m.TemporalHandler().WithTags(map[string]string{"namespace": "default", "client_name": "temporal_go"})
	root.WithTags(map[string]string{"operation": "StartWorkflowExecution"}).Counter("temporal_request").Inc(2)
	root.WithTags(map[string]string{"task_queue": "q", "worker_type": "ActivityWorker", "unknown_tag": "x"}).Counter("temporal_request").Inc(1)
	root.WithTags(map[string]string{"operation": "PollActivityTaskQueue"}).Timer("temporal_long_request_latency").Record(1500 * time.Millisecond)
	root.Gauge("temporal_num_pollers").Update(8)

	requests := family(t, m, "temporal_request_total")
	if requests == nil || len(requests.GetMetric()) != 2 {
		t.Fatalf("temporal_request_total: %v", requests)
	}
	for _, s := range requests.GetMetric() {
		if label(s, "namespace") != "default" {
			t.Errorf("namespace label %q", label(s, "namespace"))
		}
		want := map[string]float64{"StartWorkflowExecution": 2, "": 1}[label(s, "operation")]
		if s.GetCounter().GetValue() != want {
			t.Errorf("operation %q: %v, want %v", label(s, "operation"), s.GetCounter().GetValue(), want)
		}
		for _, l := range s.GetLabel() {
			if l.GetName() == "unknown_tag" {
				t.Error("a tag outside the known list became a label")
			}
		}
	}
	latency := family(t, m, "temporal_long_request_latency_seconds")
	if latency == nil || latency.GetMetric()[0].GetHistogram().GetSampleSum() != 1.5 {
		t.Errorf("long request latency: %v", latency)
	}
	if g := family(t, m, "temporal_num_pollers"); g == nil || g.GetMetric()[0].GetGauge().GetValue() != 8 {
		t.Errorf("num pollers: %v", g)
	}
}
