package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// W3C is the propagation used when tracing is on: W3C Trace Context (traceparent,
// tracestate) and W3C Baggage.
var W3C propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// tracingConfig is what the standard OTEL_* variables say about traces.
type tracingConfig struct {
	on       bool
	protocol string // grpc or http/protobuf
	describe string // for the start log line
}

// readTracingConfig applies the OpenTelemetry SDK's environment variables: traces are on
// when OTEL_TRACES_EXPORTER is otlp, or unset while an OTLP endpoint is set
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); OTEL_SDK_DISABLED=true
// and OTEL_TRACES_EXPORTER=none turn them off.
func readTracingConfig(getenv func(string) string) (tracingConfig, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		return tracingConfig{describe: "off (OTEL_SDK_DISABLED)"}, nil
	}
	endpoint := get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		endpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	switch exp := strings.ToLower(get("OTEL_TRACES_EXPORTER")); {
	case exp == "none":
		return tracingConfig{describe: "off (OTEL_TRACES_EXPORTER=none)"}, nil
	case exp == "" && endpoint == "":
		return tracingConfig{describe: "off (set OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER=otlp)"}, nil
	case exp != "" && exp != "otlp":
		return tracingConfig{}, fmt.Errorf("OTEL_TRACES_EXPORTER must be otlp or none; got %q", exp)
	}
	protocol := strings.ToLower(get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
	if protocol == "" {
		protocol = strings.ToLower(get("OTEL_EXPORTER_OTLP_PROTOCOL"))
	}
	if protocol == "" {
		protocol = "http/protobuf" // the specification's default
	}
	if protocol != "grpc" && protocol != "http/protobuf" {
		return tracingConfig{}, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL must be grpc or http/protobuf; got %q", protocol)
	}
	where := endpoint
	if where == "" {
		where = "the default endpoint"
	}
	return tracingConfig{on: true, protocol: protocol, describe: "OTLP " + protocol + " to " + where}, nil
}

// newTracerProvider exports spans over OTLP in batches. The exporter reads its endpoint,
// headers, timeout and TLS settings from the OTEL_EXPORTER_OTLP_* variables, the sampler
// comes from OTEL_TRACES_SAMPLER (default: parent-based, always on), and the resource
// from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, service.name defaulting to service.
func newTracerProvider(ctx context.Context, cfg tracingConfig, service string) (*sdktrace.TracerProvider, error) {
	var client otlptrace.Client
	if cfg.protocol == "grpc" {
		client = otlptracegrpc.NewClient()
	} else {
		client = otlptracehttp.NewClient()
	}
	exp, err := otlptrace.New(ctx, client)
	if err != nil {
		return nil, fmt.Errorf("configuring the OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("reading OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// tracingTransport records a client span per outgoing request and sends its context in
// the W3C traceparent header, so the receiver can join the trace.
type tracingTransport struct {
	base   http.RoundTripper
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// RoundTrip implements http.RoundTripper.
func (t *tracingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	target := *r.URL
	target.RawQuery, target.Fragment, target.User = "", "", nil // tokens often ride in the query
	ctx, span := t.tracer.Start(r.Context(), r.Method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method), semconv.URLFull(target.String()),
			semconv.ServerAddress(r.URL.Hostname())))
	defer span.End()
	r = r.Clone(ctx) // a RoundTripper must not change the caller's request
	t.prop.Inject(ctx, propagation.HeaderCarrier(r.Header))
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		msg := redactErr(err)
		span.RecordError(errors.New(msg))
		span.SetStatus(codes.Error, msg)
		return nil, err
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, resp.Status)
	}
	return resp, nil
}

// redactErr is err's message without the URL's query string.
func redactErr(err error) string {
	if ue, ok := err.(*url.Error); ok {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery, u.User = "", nil
			return fmt.Sprintf("%s %s: %v", ue.Op, u, ue.Err)
		}
	}
	return err.Error()
}
