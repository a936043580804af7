package main

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// routeUnmatched labels requests that matched no route, so that probing random paths
// cannot grow the metrics.
const routeUnmatched = "unmatched"

// observe records each request: a server span, continuing the trace of a W3C traceparent
// the client sent (when tracing is on), and its duration by method, route pattern and
// status in the metrics. It runs outside the access log, which turns errors into their
// responses, so both see the final status.
func (s *server) observe(c *fiber.Ctx) error {
	start, mw := time.Now(), c.Route()
	ctx := s.tel.Propagation().Extract(c.UserContext(), headerCarrier{c})
	ctx, span := s.tel.TracerNamed("github.com/threada/threada/api").Start(ctx, c.Method(),
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(semconv.HTTPRequestMethodKey.String(c.Method()), semconv.URLPath(loggablePath(c.Path()))))
	c.SetUserContext(ctx)
	err := c.Next()
	route, status := routeOf(c, mw), c.Response().StatusCode()
	span.SetName(c.Method() + " " + route)
	span.SetAttributes(semconv.HTTPRoute(route), semconv.HTTPResponseStatusCode(status))
	if status >= 500 {
		span.SetStatus(codes.Error, "")
	}
	span.End()
	s.tel.Metered().HTTPRequest(c.Method(), route, status, time.Since(start))
	return err
}

// routeOf is the pattern of the route that handled the request
// (/api/v1/public/tickets/:ticket_id), or routeUnmatched when none did: the request's
// route is then still mw, the middlewares' own.
func routeOf(c *fiber.Ctx, mw *fiber.Route) string {
	if r := c.Route(); r != mw && r.Path != "" {
		return r.Path
	}
	return routeUnmatched
}

// headerCarrier reads and writes trace context in a Fiber request's headers.
type headerCarrier struct{ c *fiber.Ctx }

var _ propagation.TextMapCarrier = headerCarrier{}

func (h headerCarrier) Get(key string) string { return h.c.Get(key) }
func (h headerCarrier) Set(key, value string) { h.c.Request().Header.Set(key, value) }
func (h headerCarrier) Keys() []string {
	var keys []string
	h.c.Request().Header.VisitAll(func(k, _ []byte) { keys = append(keys, string(k)) })
	return keys
}
