package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/threada/threada/activities"
	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/httpguard"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/internal/telemetry"
	"github.com/threada/threada/internal/temporaltest"
	"github.com/threada/threada/workflows"
)

// TestActionIsOneTrace: with tracing on, one action's spans form one trace, continuing the
// traceparent its request came with: the API request, its queries, the workflow start,
// the workflow and its attempt activity (Temporal's interceptor, across processes through
// Temporal's headers), the activity's queries and the outbound call, whose traceparent
// the receiver gets.
func TestActionIsOneTrace(t *testing.T) {
	ts := temporaltest.Shared(t)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tel := &telemetry.Telemetry{Tracer: tp, Propagator: telemetry.W3C}

	st, err := store.Open(context.Background(), dbtest.NewURL(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	st.TraceQueries(tp)
	e := newObservedEnv(t, ts.Addr, st, tel)

	// The worker, as the binary wires it: its client carries the tracing interceptor and
	// its HTTP client the traceparent.
	tc, err := client.Dial(tel.ClientOptions(e.keys.ClientOptions(client.Options{HostPort: ts.Addr,
		Logger: tlog.NewStructuredLogger(slog.New(slog.NewJSONHandler(io.Discard, nil)))})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	guard, err := httpguard.New("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(tc, e.cfg.TaskQueue, worker.Options{})
	workflows.Register(w, &activities.Activities{Store: st, HTTP: tel.HTTPClient(guard.Client()), Secrets: e.box})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	rc := newReceiver(t, nil)
	f := e.actionFixture(rc.URL)
	exp.Reset() // the fixture's own requests are other traces

	const incomingTrace, incomingSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	resp := e.postAction(f, referenceAction(), map[string]string{
		"traceparent": "00-" + incomingTrace + "-" + incomingSpan + "-01", "Prefer": "wait=10"})
	if a := decodeAction(t, resp); resp.Status != 201 || a.Status != "succeeded" {
		t.Fatalf("action: %d %s", resp.Status, resp.Body)
	}

	// The workflow's span ends when it completes, which may be just after the answer.
	want := []string{"POST /api/v1/public/tickets/:ticket_id/actions", "StartWorkflow:CustomHTTPAction",
		"RunWorkflow:CustomHTTPAction", "StartActivity:SendAttempt", "RunActivity:SendAttempt", "POST"}
	var spans tracetest.SpanStubs
	byName := map[string]tracetest.SpanStub{}
	for deadline := time.Now().Add(10 * time.Second); ; {
		spans = exp.GetSpans()
		for _, s := range spans {
			byName[s.Name] = s
		}
		missing := 0
		for _, n := range want {
			if _, ok := byName[n]; !ok {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	ids := map[trace.SpanID]tracetest.SpanStub{}
	queries := 0
	for _, s := range spans {
		if got := s.SpanContext.TraceID().String(); got != incomingTrace {
			t.Errorf("span %q is in trace %s, not the request's %s", s.Name, got, incomingTrace)
		}
		ids[s.SpanContext.SpanID()] = s
		if attrs := attribute.NewSet(s.Attributes...); attrs.HasValue("db.system") {
			queries++
		}
	}
	for _, n := range want {
		if _, ok := byName[n]; !ok {
			t.Errorf("no span %q; spans: %v", n, names(spans))
		}
	}
	if queries == 0 {
		t.Errorf("no query spans; spans: %v", names(spans))
	}
	if t.Failed() {
		return
	}

	// Every span hangs off the request's: follow the outbound call's parents to it.
	server := byName[want[0]]
	if server.Parent.SpanID().String() != incomingSpan || !server.Parent.IsRemote() {
		t.Errorf("the request span's parent is %v, not the incoming traceparent's %s", server.Parent.SpanID(), incomingSpan)
	}
	call := byName["POST"]
	if call.SpanKind != trace.SpanKindClient {
		t.Errorf("the outbound call's span is a %v span", call.SpanKind)
	}
	var chain []string
	for s := call; ; {
		chain = append(chain, s.Name)
		if s.SpanContext.SpanID() == server.SpanContext.SpanID() {
			break
		}
		parent, ok := ids[s.Parent.SpanID()]
		if !ok {
			t.Fatalf("span %q's parent %v is not in the trace; chain so far %v", s.Name, s.Parent.SpanID(), chain)
		}
		s = parent
	}
	for _, n := range want {
		if !strings.Contains(strings.Join(chain, " < "), n) {
			t.Errorf("%q is not on the path from the call to the request: %v", n, chain)
		}
	}
	for _, s := range spans {
		if s.SpanContext.SpanID() != server.SpanContext.SpanID() {
			if _, ok := ids[s.Parent.SpanID()]; !ok {
				t.Errorf("span %q's parent is not in the trace", s.Name)
			}
		}
	}

	// The receiver can join: its traceparent names the trace and the call's span.
	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests", len(got))
	}
	wantTP := fmt.Sprintf("00-%s-%s-01", incomingTrace, call.SpanContext.SpanID())
	if tp := got[0].Header.Get("traceparent"); tp != wantTP {
		t.Errorf("the receiver's traceparent is %q, want %q", tp, wantTP)
	}
}

func names(spans tracetest.SpanStubs) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}
