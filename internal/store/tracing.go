package store

import (
	"context"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/extra/bunotel"
	"go.opentelemetry.io/otel/trace"
)

// tracingHook records a span per query through bun's OpenTelemetry hook, but only for
// queries made within a trace (a request, an activity): the background loops (the relay,
// the outbox consumer) query every second or so and would otherwise each start a trace of
// their own. Statements are recorded unformatted, with placeholders for the values, so
// no ticket content or key hash lands in a span.
type tracingHook struct {
	*bunotel.QueryHook
}

type tracedQuery struct{}

// TraceQueries records a span for each query made within a trace, with tp. Call it
// before the store is shared: bun does not expect hooks to be added while it runs queries.
func (s *Store) TraceQueries(tp trace.TracerProvider) {
	if tp == nil {
		return
	}
	s.hook = tracingHook{bunotel.NewQueryHook(bunotel.WithTracerProvider(tp),
		bunotel.WithFormattedQueries(false), bunotel.WithDBName(s.name))}
	s.db.AddQueryHook(s.hook)
}

// BeforeQuery implements bun.QueryHook.
func (h tracingHook) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	return context.WithValue(h.QueryHook.BeforeQuery(ctx, e), tracedQuery{}, true)
}

// AfterQuery implements bun.QueryHook.
func (h tracingHook) AfterQuery(ctx context.Context, e *bun.QueryEvent) {
	if ctx.Value(tracedQuery{}) != nil {
		h.QueryHook.AfterQuery(ctx, e)
	}
}
