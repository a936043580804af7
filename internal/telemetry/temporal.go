package telemetry

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
)

// temporalTags are the tags the Temporal SDK puts on its metrics. Every temporal_* series
// carries all of them (empty where the SDK set none), since Prometheus wants one set of
// labels per metric name and the SDK tags one name differently from different places;
// tags outside this list are dropped.
var temporalTags = []string{
	"namespace", "client_name", "worker_type", "poller_type", "task_queue", "workflow_type", "activity_type",
	"operation", "status_code", "failure_reason", "cause", "nexus_service", "nexus_operation",
}

// temporalBuckets are the buckets of the SDK's timers, in seconds: from a local gRPC call
// to a long poll.
var temporalBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// temporalMetrics turns the SDK's metrics into Prometheus ones, created on first use:
// counters as name_total, timers as histograms name_seconds, gauges as name.
type temporalMetrics struct {
	reg      prometheus.Registerer
	mu       sync.Mutex
	counters map[string]*prometheus.CounterVec
	gauges   map[string]*prometheus.GaugeVec
	timers   map[string]*prometheus.HistogramVec
}

// TemporalHandler is the Temporal SDK's metrics handler for these metrics (client.Options'
// MetricsHandler); nil Metrics give the SDK's no-op handler.
func (m *Metrics) TemporalHandler() client.MetricsHandler {
	if m == nil {
		return client.MetricsNopHandler
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.temporal == nil {
		m.temporal = &temporalMetrics{reg: m.Registry, counters: map[string]*prometheus.CounterVec{},
			gauges: map[string]*prometheus.GaugeVec{}, timers: map[string]*prometheus.HistogramVec{}}
	}
	return temporalHandler{m: m.temporal}
}

type temporalHandler struct {
	m    *temporalMetrics
	tags map[string]string
}

// WithTags implements client.MetricsHandler.
func (h temporalHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := maps.Clone(h.tags)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, tags)
	return temporalHandler{m: h.m, tags: merged}
}

func (h temporalHandler) labels() prometheus.Labels {
	l := make(prometheus.Labels, len(temporalTags))
	for _, k := range temporalTags {
		l[k] = h.tags[k]
	}
	return l
}

// Counter implements client.MetricsHandler.
func (h temporalHandler) Counter(name string) client.MetricsCounter {
	vec := register(h.m, h.m.counters, name, func() *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: promName(name) + "_total", Help: "Temporal SDK counter " + name + "."}, temporalTags)
	})
	if vec == nil {
		return client.MetricsNopHandler.Counter(name)
	}
	c := vec.With(h.labels())
	return counterFunc(func(d int64) { c.Add(float64(d)) })
}

// Gauge implements client.MetricsHandler.
func (h temporalHandler) Gauge(name string) client.MetricsGauge {
	vec := register(h.m, h.m.gauges, name, func() *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: promName(name), Help: "Temporal SDK gauge " + name + "."}, temporalTags)
	})
	if vec == nil {
		return client.MetricsNopHandler.Gauge(name)
	}
	g := vec.With(h.labels())
	return gaugeFunc(g.Set)
}

// Timer implements client.MetricsHandler.
func (h temporalHandler) Timer(name string) client.MetricsTimer {
	vec := register(h.m, h.m.timers, name, func() *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: promName(name) + "_seconds",
			Help: "Temporal SDK timer " + name + ", in seconds.", Buckets: temporalBuckets}, temporalTags)
	})
	if vec == nil {
		return client.MetricsNopHandler.Timer(name)
	}
	o := vec.With(h.labels())
	return timerFunc(func(d time.Duration) { o.Observe(d.Seconds()) })
}

// register returns the vector named name, registering it on first use; nil when the name
// cannot be registered (taken by another kind of metric), so that metric is dropped.
func register[V prometheus.Collector](m *temporalMetrics, vecs map[string]V, name string, make func() V) V {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := vecs[name]; ok {
		return v
	}
	v := make()
	if err := m.reg.Register(v); err != nil {
		var zero V
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(V); ok {
				v = existing
			} else {
				return zero
			}
		} else {
			return zero
		}
	}
	vecs[name] = v
	return v
}

// promName makes a Temporal metric name a valid Prometheus one.
func promName(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == ':' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, name)
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }

// retryLogger is the Temporal SDK's logger with one change: the SDK logs every activity
// error at ERROR, and most of Threada's are the normal course of an action (an attempt
// held back by its destination's circuit, not sent while PostgreSQL is away, the action
// already ended) or will be retried by Temporal. Those are logged at WARN; an activity
// error that is final and unexpected stays at ERROR.
type retryLogger struct {
	log.Logger
	expected []string // activity error types the workflows handle
}

// sdkActivityError is the message the SDK logs activity errors with.
const sdkActivityError = "Activity error."

// Error implements log.Logger.
func (l retryLogger) Error(msg string, keyvals ...any) {
	if msg == sdkActivityError && l.expectedError(keyvals) {
		l.Logger.Warn(msg, keyvals...)
		return
	}
	l.Logger.Error(msg, keyvals...)
}

// With implements log.WithLogger, keeping the policy on loggers derived from this one.
func (l retryLogger) With(keyvals ...any) log.Logger {
	return retryLogger{Logger: log.With(l.Logger, keyvals...), expected: l.expected}
}

// expectedError reports whether the logged error is retryable or of an expected type.
func (l retryLogger) expectedError(keyvals []any) bool {
	for i := 0; i+1 < len(keyvals); i += 2 {
		err, ok := keyvals[i+1].(error)
		if !ok {
			continue
		}
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) {
			return !temporal.IsPanicError(err)
		}
		return !appErr.NonRetryable() || slices.Contains(l.expected, appErr.Type())
	}
	return false
}

// WithCallerSkip implements log.WithSkipCallers.
func (l retryLogger) WithCallerSkip(depth int) log.Logger {
	return retryLogger{Logger: log.Skip(l.Logger, depth), expected: l.expected}
}
