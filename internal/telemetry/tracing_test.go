package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

func TestReadTracingConfig(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		on       bool
		protocol string
		bad      bool
	}{
		{name: "nothing set", env: nil},
		{name: "endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, on: true, protocol: "http/protobuf"},
		{name: "traces endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, on: true, protocol: "http/protobuf"},
		{name: "exporter otlp", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, on: true, protocol: "http/protobuf"},
		{name: "grpc", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, on: true, protocol: "grpc"},
		{name: "traces protocol wins", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, on: true, protocol: "http/protobuf"},
		{name: "exporter none beats endpoint", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}},
		{name: "sdk disabled", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}},
		{name: "unknown exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, bad: true},
		{name: "unknown protocol", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := readTracingConfig(func(k string) string { return tc.env[k] })
			if tc.bad {
				if err == nil {
					t.Fatalf("accepted: %+v", cfg)
				}
				return
			}
			if err != nil || cfg.on != tc.on || cfg.protocol != tc.protocol || cfg.describe == "" {
				t.Errorf("got %+v, %v; want on=%v protocol=%q", cfg, err, tc.on, tc.protocol)
			}
		})
	}
}

// tracedTelemetry records spans in memory.
func tracedTelemetry() (*Telemetry, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	return &Telemetry{Tracer: tp, Propagator: W3C}, exp
}

// TestHTTPClientCarriesTraceparent: a call made within a trace is a client span of that
// trace, and the receiver gets a W3C traceparent naming it; the query string stays out of
// the span.
func TestHTTPClientCarriesTraceparent(t *testing.T) {
	tel, exp := tracedTelemetry()
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	ctx, parent := tel.TracerNamed("test").Start(context.Background(), "activity")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/hooks?token=s3cret", strings.NewReader("{}"))
	c := tel.HTTPClient(&http.Client{})
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	parent.End()
	if req.Header.Get("traceparent") != "" {
		t.Error("the caller's request was changed")
	}

	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want the call's and its parent's", len(spans))
	}
	call := spans[0]
	traceID := parent.SpanContext().TraceID()
	want := fmt.Sprintf("00-%s-%s-01", traceID, call.SpanContext.SpanID())
	if tp := got.Get("traceparent"); tp != want {
		t.Errorf("traceparent %q, want %q", tp, want)
	}
	if call.SpanKind != trace.SpanKindClient || call.Parent.SpanID() != parent.SpanContext().SpanID() || call.Name != "POST" {
		t.Errorf("call span: kind %v, parent %v, name %q", call.SpanKind, call.Parent.SpanID(), call.Name)
	}
	attrs := attribute.NewSet(call.Attributes...)
	if v, _ := attrs.Value("http.response.status_code"); v.AsInt64() != 503 {
		t.Errorf("status attribute %v", v)
	}
	if v, _ := attrs.Value("url.full"); strings.Contains(v.AsString(), "s3cret") || !strings.HasSuffix(v.AsString(), "/hooks") {
		t.Errorf("url.full %q", v.AsString())
	}
	if call.Status.Code.String() != "Error" {
		t.Errorf("a 503 left the span's status %v", call.Status.Code)
	}
}

// TestHTTPClientUntouchedWithoutTracing: with tracing off the client is used as it is and
// sends no trace context.
func TestHTTPClientUntouchedWithoutTracing(t *testing.T) {
	c := &http.Client{}
	for _, tel := range []*Telemetry{nil, {}} {
		if tel.HTTPClient(c) != c {
			t.Error("the client was wrapped with tracing off")
		}
		if len(tel.Propagation().Fields()) != 0 {
			t.Error("a propagator is active with tracing off")
		}
	}
}

// levels records which level each message was logged at.
type levels map[string]string

func (l levels) Debug(msg string, _ ...any) { l[msg] = "DEBUG" }
func (l levels) Info(msg string, _ ...any)  { l[msg] = "INFO" }
func (l levels) Warn(msg string, _ ...any)  { l[msg] = "WARN" }
func (l levels) Error(msg string, _ ...any) { l[msg] = "ERROR" }

// TestExpectedActivityErrorsLogAtWarn: the SDK's "Activity error." is a WARN for errors
// the workflow expects or Temporal retries, and an ERROR for final unexpected ones.
func TestExpectedActivityErrorsLogAtWarn(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"held back (expected type)", temporal.NewNonRetryableApplicationError("circuit open", "DestinationHeldBack", nil), "WARN"},
		{"retryable application error", temporal.NewApplicationError("not sent", "AttemptNotSent"), "WARN"},
		{"plain error, retried by Temporal", errors.New("connection refused"), "WARN"},
		{"final unexpected", temporal.NewNonRetryableApplicationError("no such action", "ActionMissing", nil), "ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := levels{}
			tel := &Telemetry{ExpectedActivityErrors: []string{"DestinationHeldBack"}}
			log := tel.ClientOptions(client.Options{Logger: rec}).Logger
			log.Error(sdkActivityError, "WorkflowID", "act_1", "Error", tc.err)
			if rec[sdkActivityError] != tc.want {
				t.Errorf("logged at %s, want %s", rec[sdkActivityError], tc.want)
			}
		})
	}
	rec := levels{}
	(&Telemetry{}).ClientOptions(client.Options{Logger: rec}).Logger.Error("Workflow panic", "Error", errors.New("x"))
	if rec["Workflow panic"] != "ERROR" {
		t.Errorf("another SDK error was logged at %s", rec["Workflow panic"])
	}
}
