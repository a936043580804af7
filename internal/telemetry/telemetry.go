// Package telemetry gives both binaries their metrics and traces: Prometheus metrics on
// METRICS_ADDR (off when unset), OpenTelemetry traces configured with the standard OTEL_*
// variables (off unless they name an exporter or an endpoint), and what Temporal's client
// needs to report into both. A nil *Telemetry, or one with its parts off, records nothing.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// Telemetry is one process's metrics and tracing.
type Telemetry struct {
	// Metrics is nil when METRICS_ADDR is unset.
	Metrics *Metrics
	// Tracer is nil when tracing is off.
	Tracer trace.TracerProvider
	// Propagator reads and writes trace context in headers; nil when tracing is off.
	Propagator propagation.TextMapPropagator
	// ExpectedActivityErrors are activity error types the workflows handle; the Temporal
	// SDK's log of them is lowered from ERROR to WARN (see retryLogger).
	ExpectedActivityErrors []string

	closers []func(context.Context) error
}

// Options describe the process to Start.
type Options struct {
	Process string // ProcessAPI or ProcessWorker
	Service string // service.name unless OTEL_SERVICE_NAME says otherwise
	// MetricsAddr serves the metrics (/metrics) and Handlers when set.
	MetricsAddr string
	// Handlers are served beside /metrics (the worker's /livez and /readyz).
	Handlers map[string]http.Handler
	// ExpectedActivityErrors: see Telemetry.
	ExpectedActivityErrors []string
}

// Start sets up metrics and tracing as the environment (read through getenv) says, and
// serves the metrics. Traces go to the OTLP exporter in batches; Close flushes them. When
// tracing is on it also becomes the process's global tracer provider and propagator, for
// libraries that use those.
func Start(ctx context.Context, getenv func(string) string, opts Options, log *slog.Logger) (*Telemetry, error) {
	t := &Telemetry{ExpectedActivityErrors: opts.ExpectedActivityErrors}
	tcfg, err := readTracingConfig(getenv)
	if err != nil {
		return nil, err
	}
	if tcfg.on {
		tp, err := newTracerProvider(ctx, tcfg, opts.Service)
		if err != nil {
			return nil, err
		}
		t.Tracer, t.Propagator = tp, W3C
		t.closers = append(t.closers, tp.Shutdown)
		otel.SetTracerProvider(tp)
		otel.SetTextMapPropagator(W3C)
	}
	metrics := "off (set METRICS_ADDR)"
	if opts.MetricsAddr != "" {
		t.Metrics = NewMetrics(opts.Process)
		handlers := opts.Handlers
		if on, _ := strconv.ParseBool(getenv("PPROF")); on {
			handlers = withProfiling(handlers)
		}
		addr, err := t.serve(opts.MetricsAddr, handlers, log)
		if err != nil {
			return nil, err
		}
		metrics = "http://" + addr + "/metrics"
	}
	log.Info("telemetry", "metrics", metrics, "traces", tcfg.describe)
	return t, nil
}

// serve serves the metrics and handlers on addr until Close, and returns the address
// listened on.
func (t *Telemetry) serve(addr string, handlers map[string]http.Handler, log *slog.Logger) (string, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", t.Metrics.Handler())
	for pattern, h := range handlers {
		mux.Handle(pattern, h)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listening on METRICS_ADDR %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	t.closers = append(t.closers, srv.Shutdown)
	return ln.Addr().String(), nil
}

// withProfiling adds Go's profiles (/debug/pprof/) to handlers: PPROF=true serves them on
// METRICS_ADDR, the internal port, for profiling a process under load (docs/benchmarks.md).
func withProfiling(handlers map[string]http.Handler) map[string]http.Handler {
	out := maps.Clone(handlers)
	if out == nil {
		out = map[string]http.Handler{}
	}
	out["GET /debug/pprof/"] = http.HandlerFunc(pprof.Index)
	out["GET /debug/pprof/profile"] = http.HandlerFunc(pprof.Profile)
	out["GET /debug/pprof/trace"] = http.HandlerFunc(pprof.Trace)
	out["GET /debug/pprof/symbol"] = http.HandlerFunc(pprof.Symbol)
	return out
}

// Close stops the metrics server and flushes the spans not yet exported.
func (t *Telemetry) Close(ctx context.Context) error {
	if t == nil {
		return nil
	}
	var errs []error
	for _, c := range t.closers {
		errs = append(errs, c(ctx))
	}
	return errors.Join(errs...)
}

// Metered returns the metrics, nil when off.
func (t *Telemetry) Metered() *Metrics {
	if t == nil {
		return nil
	}
	return t.Metrics
}

// TracerProvider returns the tracer provider, nil when tracing is off (the store's option
// takes nil as "no tracing").
func (t *Telemetry) TracerProvider() trace.TracerProvider {
	if t == nil || t.Tracer == nil {
		return nil
	}
	return t.Tracer
}

// Tracing reports whether spans are recorded.
func (t *Telemetry) Tracing() bool { return t.TracerProvider() != nil }

// TracerNamed returns a tracer of the given instrumentation name; a no-op one when tracing is
// off.
func (t *Telemetry) TracerNamed(name string) trace.Tracer {
	if tp := t.TracerProvider(); tp != nil {
		return tp.Tracer(name)
	}
	return noop.NewTracerProvider().Tracer(name)
}

// Propagation returns the propagator, a no-op one when tracing is off (no trace context is
// read from requests or sent).
func (t *Telemetry) Propagation() propagation.TextMapPropagator {
	if t == nil || t.Propagator == nil || t.Tracer == nil {
		return propagation.NewCompositeTextMapPropagator()
	}
	return t.Propagator
}

// ClientOptions adds to a Temporal client's options the metrics handler, the tracing
// interceptor (workflow starts, workflows and activities become spans, their context
// carried in Temporal's headers) and the logging policy of retryLogger.
func (t *Telemetry) ClientOptions(o client.Options) client.Options {
	if t == nil {
		return o
	}
	if t.Metrics != nil {
		o.MetricsHandler = t.Metrics.TemporalHandler()
	}
	if t.Tracing() {
		ti, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
			Tracer: t.TracerNamed("go.temporal.io/sdk"), TextMapPropagator: t.Propagation(),
		})
		if err == nil { // it fails only without a tracer, which is set
			o.Interceptors = append(append([]interceptor.ClientInterceptor(nil), o.Interceptors...), ti)
		}
	}
	if o.Logger != nil {
		o.Logger = retryLogger{Logger: o.Logger, expected: t.ExpectedActivityErrors}
	}
	return o
}

// HTTPClient returns c with a span per request and the W3C traceparent header sent along,
// when tracing is on; c itself otherwise.
func (t *Telemetry) HTTPClient(c *http.Client) *http.Client {
	if !t.Tracing() {
		return c
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	traced := *c
	traced.Transport = &tracingTransport{base: base, tracer: t.TracerNamed("github.com/threada/threada/actions"), prop: t.Propagation()}
	return &traced
}
