package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/threada/threada/activities"
	"github.com/threada/threada/internal/actions"
	"github.com/threada/threada/internal/auth"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/httpguard"
	"github.com/threada/threada/internal/temporaltest"
	"github.com/threada/threada/internal/webhook"
	"github.com/threada/threada/workflows"
)

// newActionEnv is a test API wired to the package's real Temporal dev server, with an
// in-process worker on the environment's own task queue.
func newActionEnv(t *testing.T) (*testEnv, client.Client) {
	t.Helper()
	ts := temporaltest.Shared(t)
	e := newEnvWithTemporal(t, ts.Addr)
	tc := e.temporal()
	startInProcessWorker(t, e, tc)
	return e, tc
}

// startInProcessWorker runs the action workflows and activities on e's task queue, as the
// worker binary does, allowing calls to loopback receivers; it stops when t ends.
func startInProcessWorker(t testing.TB, e *testEnv, tc client.Client) {
	t.Helper()
	guard, err := httpguard.New("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(tc, e.cfg.TaskQueue, worker.Options{})
	runner := actions.NewRunner(tc, e.store, slog.New(slog.DiscardHandler), e.cfg)
	workflows.Register(w, &activities.Activities{Store: e.store, HTTP: guard.Client(), Secrets: e.box,
		StartAction: runner.Start, Wake: runner.Wake})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
}

// receiver is a local HTTP endpoint that records every request; respond decides each
// answer from the request's position (1-based).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []received
	respond func(n int, w http.ResponseWriter)
}

type received struct {
	Method, Path string
	Header       http.Header
	Body         string
}

func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter)) *receiver {
	rc := &receiver{respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: string(body)})
		n := len(rc.got)
		rc.mu.Unlock()
		if rc.respond != nil {
			rc.respond(n, w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true}`)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// actionJSON decodes an action response.
type actionJSON struct {
	ActionID       string                 `json:"action_id"`
	TenantID       string                 `json:"tenant_id"`
	TicketID       string                 `json:"ticket_id"`
	ActionType     string                 `json:"action_type"`
	Status         string                 `json:"status"`
	RequestedBy    string                 `json:"requested_by"`
	Payload        map[string]any         `json:"payload"`
	Attempts       int                    `json:"attempts"`
	NextAttemptAt  *string                `json:"next_attempt_at"`
	LastError      *string                `json:"last_error"`
	CanceledReason *string                `json:"canceled_reason"`
	ReplayOf       *string                `json:"replay_of"`
	CompletedAt    *string                `json:"completed_at"`
	Response       *domain.ActionResponse `json:"response"`
	WorkflowID     string                 `json:"workflow_id"`
	TemporalUIURL  string                 `json:"temporal_ui_url"`
}

func decodeAction(t *testing.T, resp *response) actionJSON {
	t.Helper()
	var env struct{ Action actionJSON }
	resp.decode(t, &env)
	return env.Action
}

// actionFixture is a tenant whose actions base URL is a receiver, with a key and a ticket.
type actionFixture struct {
	tenant, key, ticket string
}

func (e *testEnv) actionFixture(baseURL string, allowed ...string) actionFixture {
	e.t.Helper()
	tenant := e.newTenantWith(domain.Tenant{Name: "Acme", ActionsBaseURL: baseURL, AllowedHosts: allowed})
	key := e.newKey(tenant, domain.AllScopes...)
	ticket := e.mustTicket(key, map[string]any{"subject": "Order 42 is late"}).Ticket.Summary.TicketID
	return actionFixture{tenant: tenant, key: key, ticket: ticket}
}

// referenceAction is the reference's "run an action" payload.
func referenceAction() map[string]any {
	return map[string]any{"payload": map[string]any{
		"type": "custom_http", "method": "POST", "url": "/hooks/zapier",
		"headers": map[string]string{"X-Source": "threada"}, "body_json": `{"event":"ticket_updated"}`,
	}}
}

func (e *testEnv) postAction(f actionFixture, body any, header map[string]string) *response {
	e.t.Helper()
	return e.do(req{method: "POST", path: "/api/v1/public/tickets/" + f.ticket + "/actions", key: f.key, body: body, header: header})
}

func (e *testEnv) getAction(f actionFixture, id string, header map[string]string) actionJSON {
	e.t.Helper()
	resp := e.do(req{method: "GET", path: "/api/v1/public/actions/" + id, key: f.key, header: header})
	if resp.Status != http.StatusOK {
		e.t.Fatalf("get action: %d %s", resp.Status, resp.Body)
	}
	return decodeAction(e.t, resp)
}

// TestActionRoundTrip: ticket -> action -> the receiver gets exactly one request with the
// asked method, path, headers and body, signed -> status succeeded, in one round trip.
func TestActionRoundTrip(t *testing.T) {
	e, tc := newActionEnv(t)
	rc := newReceiver(t, nil)
	f := e.actionFixture(rc.URL)

	resp := e.postAction(f, referenceAction(), map[string]string{"Prefer": "wait=15"})
	if resp.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.Status, resp.Body)
	}
	a := decodeAction(t, resp)
	if a.Status != "succeeded" || resp.Header.Get("Preference-Applied") != "wait=15" {
		t.Fatalf("status %q after Prefer: wait=15 (applied %q): %s", a.Status, resp.Header.Get("Preference-Applied"), resp.Body)
	}
	if !strings.HasPrefix(a.ActionID, "act_") || a.TenantID != f.tenant || a.TicketID != f.ticket || a.ActionType != "custom_http" ||
		a.RequestedBy != "api_key:"+keyIDOf(f.key) || a.WorkflowID != a.ActionID || a.Attempts != 1 || a.CompletedAt == nil {
		t.Errorf("action fields: %+v", a)
	}
	wantPayload := referenceAction()["payload"]
	if fmt.Sprint(a.Payload) != fmt.Sprint(wantPayload) {
		t.Errorf("payload %v, want as submitted %v", a.Payload, wantPayload)
	}
	if a.Response == nil || a.Response.StatusCode != 200 || a.Response.Body != `{"ok":true}` {
		t.Errorf("response %+v", a.Response)
	}
	if a.TemporalUIURL != "http://127.0.0.1:8233/namespaces/default/workflows/"+a.ActionID {
		t.Errorf("temporal_ui_url %q", a.TemporalUIURL)
	}

	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	r := got[0]
	if r.Method != "POST" || r.Path != "/hooks/zapier" || r.Body != `{"event":"ticket_updated"}` ||
		r.Header.Get("X-Source") != "threada" || r.Header.Get("Content-Type") != "application/json" ||
		r.Header.Get("Idempotency-Key") != a.ActionID || r.Header.Get("X-Threada-Attempt") != "1" {
		t.Errorf("received %+v", r)
	}
	if err := webhook.Verify(e.secrets[f.tenant], r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"),
		r.Header.Get("webhook-signature"), []byte(r.Body), time.Now(), time.Minute); err != nil || r.Header.Get("webhook-id") != a.ActionID {
		t.Errorf("signature: %v (webhook-id %q)", err, r.Header.Get("webhook-id"))
	}

	// GET and the ticket's list agree; the run carries the search attributes ops filter by.
	if g := e.getAction(f, a.ActionID, nil); g.Status != "succeeded" || g.Response == nil {
		t.Errorf("GET: %+v", g)
	}
	var list listJSON[actionJSON]
	e.do(req{method: "GET", path: "/api/v1/public/tickets/" + f.ticket + "/actions", key: f.key}).decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].ActionID != a.ActionID || list.Items[0].Status != "succeeded" {
		t.Errorf("list: %+v", list.Items)
	}
	desc, err := tc.DescribeWorkflowExecution(context.Background(), a.ActionID, "")
	if err != nil {
		t.Fatal(err)
	}
	if wt := desc.GetWorkflowExecutionInfo().GetType().GetName(); wt != "CustomHTTPAction" {
		t.Errorf("workflow type %q", wt)
	}
	fields := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()
	for name, want := range map[string]string{"TenantId": f.tenant, "TicketId": f.ticket, "ActionType": "custom_http"} {
		if p := fields[name]; p == nil || !strings.Contains(string(p.GetData()), want) {
			t.Errorf("search attribute %s = %v, want %s", name, p, want)
		}
	}
}

func keyIDOf(secret string) string {
	id, _ := auth.KeyIDFromSecret(secret)
	return id
}

// TestActionRetriesThenSucceeds: two 503s, then 200; three attempts, one success, the
// same Idempotency-Key on each.
func TestActionRetriesThenSucceeds(t *testing.T) {
	e, _ := newActionEnv(t)
	rc := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	f := e.actionFixture(rc.URL)
	a := decodeAction(t, e.postAction(f, referenceAction(), map[string]string{"Prefer": "wait=20"}))
	if a.Status != "succeeded" || a.Attempts != 3 {
		t.Fatalf("status %q attempts %d, want succeeded after 3", a.Status, a.Attempts)
	}
	got := rc.requests()
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests", len(got))
	}
	for i, r := range got {
		if r.Header.Get("Idempotency-Key") != a.ActionID || r.Header.Get("X-Threada-Attempt") != fmt.Sprint(i+1) {
			t.Errorf("attempt %d headers: key %q attempt %q", i+1, r.Header.Get("Idempotency-Key"), r.Header.Get("X-Threada-Attempt"))
		}
	}
}

// TestActionRetryingIsLiveAndCancelable: while an action waits between attempts its status
// is retrying with the attempt count, next attempt time and last error; cancel stops it.
func TestActionRetryingIsLiveAndCancelable(t *testing.T) {
	e, _ := newActionEnv(t)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter) {
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	f := e.actionFixture(rc.URL)
	body := referenceAction()
	body["payload"].(map[string]any)["max_attempts"] = 10
	a := decodeAction(t, e.postAction(f, body, nil))

	var live actionJSON
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if live = e.getAction(f, a.ActionID, nil); live.Status == "retrying" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	wantErr := "POST " + rc.URL + "/hooks/zapier: 503 Service Unavailable"
	if live.Status != "retrying" || live.Attempts != 1 || live.NextAttemptAt == nil || live.LastError == nil || *live.LastError != wantErr {
		t.Fatalf("live: %+v (last_error %v), want retrying after 1 attempt with %q", live, deref(live.LastError), wantErr)
	}
	next, _ := time.Parse(time.RFC3339, *live.NextAttemptAt)
	if d := time.Until(next); d < 40*time.Second || d > 70*time.Second {
		t.Errorf("next attempt in %v; Retry-After asked for 60s", d)
	}
	if live.Response == nil || live.Response.StatusCode != 503 {
		t.Errorf("response of the failed attempt: %+v", live.Response)
	}

	resp := e.do(req{method: "POST", path: "/api/v1/public/actions/" + a.ActionID + "/cancel", key: f.key})
	if resp.Status != http.StatusOK {
		t.Fatalf("cancel: %d %s", resp.Status, resp.Body)
	}
	if c := decodeAction(t, resp); c.Status != "canceled" || c.CompletedAt == nil {
		t.Errorf("after cancel: %+v", c)
	}
	wantError(t, e.do(req{method: "POST", path: "/api/v1/public/actions/" + a.ActionID + "/cancel", key: f.key}), http.StatusConflict, "conflict_error", "")
	if n := len(rc.requests()); n != 1 {
		t.Errorf("receiver got %d requests; cancel should have stopped the retries", n)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestActionOutcomes: permanent errors fail at once; the last attempt's timeout ends as
// timed_out; a refused address fails without a call.
func TestActionOutcomes(t *testing.T) {
	e, _ := newActionEnv(t)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter) { http.Error(w, "no such hook", http.StatusNotFound) })
	slow := newReceiver(t, func(_ int, w http.ResponseWriter) { time.Sleep(700 * time.Millisecond) })
	f := e.actionFixture(rc.URL, "127.0.0.1", "localhost", "169.254.169.254")

	for _, tc := range []struct {
		name       string
		payload    map[string]any
		status     string
		attempts   int
		errContain string
	}{
		{"404 fails at once", map[string]any{"type": "custom_http", "method": "POST", "url": "/hooks/gone", "body_json": `{}`},
			"failed", 1, "POST " + rc.URL + "/hooks/gone: 404 Not Found"},
		{"timeout on the last attempt", map[string]any{"type": "custom_http", "method": "GET", "url": slow.URL + "/slow", "timeout_ms": 200, "max_attempts": 2},
			"timed_out", 2, "no response within 200 ms"},
		{"metadata address refused", map[string]any{"type": "custom_http", "method": "GET", "url": "http://169.254.169.254/latest/meta-data"},
			"failed", 1, "refused to connect to 169.254.169.254"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.postAction(f, map[string]any{"payload": tc.payload}, map[string]string{"Prefer": "wait=20"})
			a := decodeAction(t, resp)
			if a.Status != tc.status || a.Attempts != tc.attempts || a.LastError == nil || !strings.Contains(*a.LastError, tc.errContain) {
				t.Errorf("got %s after %d attempts (%s); want %s after %d with %q", a.Status, a.Attempts, deref(a.LastError), tc.status, tc.attempts, tc.errContain)
			}
		})
	}
}

func TestActionValidation(t *testing.T) {
	e := newTestEnv(t)
	f := e.actionFixture("https://hooks.example.com/base", "api.partner.example", "*.acme.example")
	noBase := e.actionFixture("")
	payload := func(mod func(p map[string]any)) map[string]any {
		p := map[string]any{"type": "custom_http", "method": "POST", "url": "/hooks/zapier", "body_json": `{"a":1}`}
		mod(p)
		return map[string]any{"payload": p}
	}
	for _, tc := range []struct {
		name  string
		body  any
		param string
	}{
		{"no payload", map[string]any{}, "payload"},
		{"unknown type", payload(func(p map[string]any) { p["type"] = "email" }), "payload.type"},
		{"bad method", payload(func(p map[string]any) { p["method"] = "TRACE" }), "payload.method"},
		{"lower-case method", payload(func(p map[string]any) { p["method"] = "post" }), "payload.method"},
		{"missing url", payload(func(p map[string]any) { delete(p, "url") }), "payload.url"},
		{"host not allowed", payload(func(p map[string]any) { p["url"] = "https://evil.example/x" }), "payload.url"},
		{"ftp url", payload(func(p map[string]any) { p["url"] = "ftp://api.partner.example/x" }), "payload.url"},
		{"credentials in url", payload(func(p map[string]any) { p["url"] = "https://u:p@api.partner.example/x" }), "payload.url"},
		{"protocol-relative url", payload(func(p map[string]any) { p["url"] = "//evil.example/x" }), "payload.url"},
		{"body not JSON", payload(func(p map[string]any) { p["body_json"] = "{not json" }), "payload.body_json"},
		{"body with GET", payload(func(p map[string]any) { p["method"] = "GET" }), "payload.body_json"},
		{"CRLF in a header", payload(func(p map[string]any) { p["headers"] = map[string]string{"X-A": "a\r\nX-Evil: 1"} }), "payload.headers.X-A"},
		{"Host header", payload(func(p map[string]any) { p["headers"] = map[string]string{"Host": "evil.example"} }), "payload.headers.Host"},
		{"Transfer-Encoding header", payload(func(p map[string]any) { p["headers"] = map[string]string{"transfer-encoding": "chunked"} }), "payload.headers.transfer-encoding"},
		{"bad header name", payload(func(p map[string]any) { p["headers"] = map[string]string{"X Bad": "v"} }), "payload.headers.X Bad"},
		{"timeout too long", payload(func(p map[string]any) { p["timeout_ms"] = 60001 }), "payload.timeout_ms"},
		{"zero attempts", payload(func(p map[string]any) { p["max_attempts"] = 0 }), "payload.max_attempts"},
		{"too many attempts", payload(func(p map[string]any) { p["max_attempts"] = 26 }), "payload.max_attempts"},
		{"unknown payload field", payload(func(p map[string]any) { p["retries"] = 3 }), "payload.retries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.postAction(f, tc.body, nil), http.StatusBadRequest, "invalid_request_error", tc.param)
		})
	}
	wantError(t, e.postAction(noBase, referenceAction(), nil), http.StatusBadRequest, "invalid_request_error", "payload.url")

	big := payload(func(p map[string]any) { p["body_json"] = `"` + strings.Repeat("x", 256<<10) + `"` })
	wantError(t, e.postAction(f, big, nil), http.StatusBadRequest, "invalid_request_error", "payload.body_json")
	wantError(t, e.do(req{method: "POST", path: "/api/v1/public/tickets/tkt_00000000000000000000000000/actions", key: f.key, body: referenceAction()}),
		http.StatusNotFound, "not_found_error", "")

	// Allowed absolute URLs and a relative one are accepted (the workflow service being
	// unreachable here, they wait queued).
	for _, u := range []string{"https://api.partner.example/v1/hook?x=1", "https://eu.acme.example/hook", "/hooks/zapier?token=abc"} {
		resp := e.postAction(f, payload(func(p map[string]any) { p["url"] = u }), nil)
		if resp.Status != http.StatusCreated {
			t.Errorf("%s: %d %s", u, resp.Status, resp.Body)
			continue
		}
		if a := decodeAction(t, resp); a.Status != "queued" || a.Payload["url"] != u {
			t.Errorf("%s: %+v", u, a)
		}
	}
	var list listJSON[actionJSON]
	e.do(req{method: "GET", path: "/api/v1/public/tickets/" + f.ticket + "/actions", key: f.key}).decode(t, &list)
	if len(list.Items) != 3 {
		t.Errorf("%d actions stored, want only the 3 valid ones", len(list.Items))
	}
}

// TestActionIdempotencyKey: a retried POST returns the same action and calls the receiver
// once.
func TestActionIdempotencyKey(t *testing.T) {
	e, _ := newActionEnv(t)
	rc := newReceiver(t, nil)
	f := e.actionFixture(rc.URL)
	h := map[string]string{"Idempotency-Key": "zap-run-7", "Prefer": "wait=15"}
	first := decodeAction(t, e.postAction(f, referenceAction(), h))
	again := e.postAction(f, referenceAction(), h)
	if a := decodeAction(t, again); a.ActionID != first.ActionID || again.Header.Get("Idempotent-Replayed") != "true" || a.Status != "succeeded" {
		t.Errorf("replay: %+v replayed=%q", a, again.Header.Get("Idempotent-Replayed"))
	}
	if n := len(rc.requests()); n != 1 {
		t.Errorf("receiver got %d requests, want 1", n)
	}
	var list listJSON[actionJSON]
	e.do(req{method: "GET", path: "/api/v1/public/tickets/" + f.ticket + "/actions", key: f.key}).decode(t, &list)
	if len(list.Items) != 1 {
		t.Errorf("%d actions, want 1", len(list.Items))
	}
}

func TestActionTenantIsolation(t *testing.T) {
	e := newTestEnv(t)
	a := e.actionFixture("https://hooks.a.example")
	b := e.actionFixture("https://hooks.b.example")
	act := decodeAction(t, e.postAction(a, referenceAction(), nil))
	for _, r := range []req{
		{method: "GET", path: "/api/v1/public/actions/" + act.ActionID, key: b.key},
		{method: "POST", path: "/api/v1/public/actions/" + act.ActionID + "/cancel", key: b.key},
		{method: "GET", path: "/api/v1/public/tickets/" + a.ticket + "/actions", key: b.key},
		{method: "POST", path: "/api/v1/public/tickets/" + a.ticket + "/actions", key: b.key, body: referenceAction()},
	} {
		wantError(t, e.do(r), http.StatusNotFound, "not_found_error", "")
	}
	if got := e.getAction(a, act.ActionID, nil); got.Status != "queued" {
		t.Errorf("A's action after B's attempts: %+v", got)
	}
}

func TestParsePreferWait(t *testing.T) {
	for h, want := range map[string]time.Duration{
		"wait=5": 5 * time.Second, "respond-async, wait=10": 10 * time.Second, "wait=120": 30 * time.Second,
		`WAIT="3"`: 3 * time.Second, "": 0, "wait=abc": 0, "wait=-1": 0, "handling=strict": 0,
	} {
		got, ok := parsePreferWait(h)
		if got != want || ok != (want > 0) {
			t.Errorf("%q: %v %v, want %v", h, got, ok, want)
		}
	}
}
