package telemetry

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/store"
)

// MaxDestinationLabels is how many destinations one process labels its attempt latency
// with. Destinations are chosen by tenants, so their number is not Threada's to bound:
// the first MaxDestinationLabels a process calls keep their own series, and attempts to
// any other destination are counted under "other".
const MaxDestinationLabels = 50

// OtherDestination is the destination label of attempts past MaxDestinationLabels.
const OtherDestination = "other"

// The processes metrics are made for: each exports at zero, from its start, the series
// whose label values are known in advance and that it records, so a dashboard or an alert
// finds them before the first event (and a process shows none of the other's).
const (
	ProcessAPI    = "api"
	ProcessWorker = "worker"
)

// Label values known in advance.
var (
	rateLimits        = []string{"key", "tenant", "unauthenticated"}
	evaluationResults = []string{"matched", "not_matched", "skipped", "error"}
	budgets           = []string{"rule", "event", "wall_clock"}
	attemptOutcomes   = []string{domain.AttemptSucceeded, domain.AttemptFailed, domain.AttemptTimedOut, domain.AttemptRefused}
	finalStatuses     = []string{domain.ActionSucceeded, domain.ActionFailed, domain.ActionTimedOut, domain.ActionCanceled}
)

// Metrics are a process's Prometheus metrics, on a registry of their own. A nil *Metrics
// records nothing, so code can call it whether or not METRICS_ADDR is set.
type Metrics struct {
	Registry *prometheus.Registry

	httpDuration    *prometheus.HistogramVec
	rateLimited     *prometheus.CounterVec
	evaluations     *prometheus.CounterVec
	budgetFailures  *prometheus.CounterVec
	attempts        *prometheus.CounterVec
	finished        *prometheus.CounterVec
	attemptDuration *prometheus.HistogramVec

	mu           sync.Mutex
	destinations map[string]bool
	temporal     *temporalMetrics
}

// NewMetrics makes the metrics of process (ProcessAPI or ProcessWorker), with the Go
// runtime's and the OS process's.
func NewMetrics(process string) *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry(), destinations: map[string]bool{}}
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "threada_http_request_duration_seconds",
		Help:    "API requests by method, route (the route pattern, or \"unmatched\") and status, and how long they took.",
		Buckets: prometheus.DefBuckets,
	}, []string{"method", "route", "status"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "threada_rate_limit_refusals_total",
		Help: "Requests refused with 429 by the limit that refused them: key, tenant or unauthenticated (per client address).",
	}, []string{"limit"})
	m.evaluations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "threada_automation_evaluations_total",
		Help: "Automations evaluated against ticket events, by result: matched, not_matched, skipped (loop protection) or error.",
	}, []string{"result"})
	m.budgetFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "threada_automation_budget_failures_total",
		Help: "Evaluations stopped by a budget: the rule's own (rule), the event's shared one (event) or the wall clock (wall_clock).",
	}, []string{"budget"})
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "threada_action_attempts_total",
		Help: "Action attempts recorded, by outcome: succeeded, failed, timed_out or refused (by the egress guard).",
	}, []string{"outcome"})
	m.finished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "threada_actions_finished_total",
		Help: "Actions that reached a final status recorded by a worker: succeeded, failed, timed_out or canceled.",
	}, []string{"status"})
	m.attemptDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "threada_action_attempt_duration_seconds",
		Help: "How long attempts' calls took, by destination (scheme://host:port; past " +
			strconv.Itoa(MaxDestinationLabels) + " destinations in one process, \"other\").",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"destination"})
	m.Registry.MustRegister(m.httpDuration, m.rateLimited, m.evaluations, m.budgetFailures, m.attempts, m.finished, m.attemptDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	known := map[string][]struct {
		vec    *prometheus.CounterVec
		values []string
	}{
		ProcessAPI: {{m.rateLimited, rateLimits}},
		ProcessWorker: {{m.evaluations, evaluationResults}, {m.budgetFailures, budgets},
			{m.attempts, attemptOutcomes}, {m.finished, finalStatuses}},
	}
	for _, k := range known[process] {
		for _, v := range k.values {
			k.vec.WithLabelValues(v)
		}
	}
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// HTTPRequest records one API request.
func (m *Metrics) HTTPRequest(method, route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpDuration.WithLabelValues(method, route, strconv.Itoa(status)).Observe(d.Seconds())
}

// RateLimited records a request refused by a rate limit: "key", "tenant" or
// "unauthenticated".
func (m *Metrics) RateLimited(limit string) {
	if m == nil {
		return
	}
	m.rateLimited.WithLabelValues(limit).Inc()
}

// AutomationEvaluated records one automation's evaluation against an event: "matched",
// "not_matched", "skipped" or "error".
func (m *Metrics) AutomationEvaluated(result string) {
	if m == nil {
		return
	}
	m.evaluations.WithLabelValues(result).Inc()
}

// BudgetExceeded records an evaluation stopped by a budget: "rule", "event" or
// "wall_clock".
func (m *Metrics) BudgetExceeded(budget string) {
	if m == nil {
		return
	}
	m.budgetFailures.WithLabelValues(budget).Inc()
}

// AttemptCall records how long an attempt's call to destination took.
func (m *Metrics) AttemptCall(destination string, d time.Duration) {
	if m == nil {
		return
	}
	m.attemptDuration.WithLabelValues(m.destinationLabel(destination)).Observe(d.Seconds())
}

// AttemptRecorded records an attempt's outcome, and the action's status when it is final.
func (m *Metrics) AttemptRecorded(outcome, status string) {
	if m == nil {
		return
	}
	if outcome != "" {
		m.attempts.WithLabelValues(outcome).Inc()
	}
	if domain.ActionTerminal(status) {
		m.finished.WithLabelValues(status).Inc()
	}
}

// destinationLabel is d while this process labels fewer than MaxDestinationLabels
// destinations or already labels d, else OtherDestination.
func (m *Metrics) destinationLabel(d string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.destinations[d] {
		return d
	}
	if len(m.destinations) >= MaxDestinationLabels {
		return OtherDestination
	}
	m.destinations[d] = true
	return d
}

// ObserveDB exports the connection pool's figures (in use, idle, waits for a connection
// and their total time, ...) as go_sql_* with db_name="threada".
func (m *Metrics) ObserveDB(db *sql.DB) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(collectors.NewDBStatsCollector(db, "threada"))
}

// ObserveStore exports the outbox backlog and the circuits by state, read with read at
// scrape time (at most every gaugeTTL, each read bounded by gaugeTimeout). When the read
// fails these series are left out of that scrape, and the failure is logged.
func (m *Metrics) ObserveStore(read func(context.Context) (store.Gauges, error), log *slog.Logger) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(&storeCollector{read: read, log: log, ttl: gaugeTTL})
}

// Store figures are read at most this often, each read within gaugeTimeout.
const (
	gaugeTTL     = 5 * time.Second
	gaugeTimeout = 2 * time.Second
)

var (
	descPending = prometheus.NewDesc("threada_outbox_pending_events",
		"Ticket events not yet processed by the automations engine (counted up to 100,000).", nil, nil)
	descOldest = prometheus.NewDesc("threada_outbox_oldest_pending_age_seconds",
		"Age of the oldest ticket event not yet processed; 0 when none waits.", nil, nil)
	descCircuits = prometheus.NewDesc("threada_destination_circuits",
		"Destinations (per tenant) by circuit state: closed or open.", []string{"state"}, nil)
)

type storeCollector struct {
	read func(context.Context) (store.Gauges, error)
	log  *slog.Logger
	ttl  time.Duration

	mu     sync.Mutex
	at     time.Time
	last   store.Gauges
	lastOK bool
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPending
	ch <- descOldest
	ch <- descCircuits
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.at.IsZero() || now.Sub(c.at) >= c.ttl {
		ctx, cancel := context.WithTimeout(context.Background(), gaugeTimeout)
		g, err := c.read(ctx)
		cancel()
		c.at, c.last, c.lastOK = now, g, err == nil
		if err != nil && c.log != nil {
			c.log.Warn("metrics: reading the outbox backlog and circuits", "err", err)
		}
	}
	if !c.lastOK {
		return
	}
	age := 0.0
	if c.last.OldestPending != nil {
		age = max(now.Sub(*c.last.OldestPending).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(c.last.PendingEvents))
	ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(descCircuits, prometheus.GaugeValue, float64(c.last.OpenCircuits), domain.DestinationOpen)
	ch <- prometheus.MustNewConstMetric(descCircuits, prometheus.GaugeValue, float64(c.last.ClosedCircuits), domain.DestinationClosed)
}
