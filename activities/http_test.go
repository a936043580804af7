package activities

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/threada/threada/internal/actions"
	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/httpguard"
	"github.com/threada/threada/internal/secretbox"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/internal/webhook"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// fixture is a store with a tenant and a ticket, and the activities over it.
type fixture struct {
	t      *testing.T
	url    string // the database's
	store  *store.Store
	acts   *Activities
	tenant string
	ticket string
	secret string
}

func newFixture(t *testing.T, allowCIDRs string) *fixture {
	t.Helper()
	url := dbtest.NewURL(t)
	st := openStore(t, url)
	box, err := secretbox.New(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	guard, err := httpguard.New(allowCIDRs)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tn := &domain.Tenant{ID: domain.NewID(domain.PrefixTenant), Name: "Acme"}
	secret := webhook.NewSecret()
	if err := st.CreateTenant(ctx, tn, box.Seal(secret, tn.ID)); err != nil {
		t.Fatal(err)
	}
	d, err := st.CreateTicket(ctx, tn.ID, domain.TicketCreate{Subject: "s", Status: "open", Priority: "normal", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, url: url, store: st, acts: &Activities{Store: st, HTTP: guard.Client(), Secrets: box}, tenant: tn.ID, ticket: d.Ticket.ID, secret: secret}
}

func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// newAction stores a queued action for req, with the default timeout and attempts.
func (f *fixture) newAction(req domain.ActionRequest) *domain.Action {
	f.t.Helper()
	if req.TimeoutMS == 0 {
		req.TimeoutMS = 2000
	}
	if req.MaxAttempts == 0 {
		req.MaxAttempts = 5
	}
	a := &domain.Action{ID: domain.NewID(domain.PrefixAction), TenantID: f.tenant, TicketID: f.ticket, Type: domain.ActionTypeCustomHTTP,
		RequestedBy: "api_key:key_x", Payload: domain.CustomHTTPPayload{Type: "custom_http", Method: req.Method, URL: req.URL}, Request: req}
	if err := f.store.CreateAction(context.Background(), a); err != nil {
		f.t.Fatal(err)
	}
	return a
}

// send runs attempt n of a through SendAttempt, as the workflow does.
func (f *fixture) send(a *domain.Action, n int) (*contract.AttemptOutcome, error) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(f.acts)
	val, err := env.ExecuteActivity(f.acts.SendAttempt, contract.AttemptInput{ActionID: a.ID, TenantID: f.tenant, Attempt: n, Request: a.Request})
	if err != nil {
		return nil, err
	}
	var out contract.AttemptOutcome
	if err := val.Get(&out); err != nil {
		f.t.Fatal(err)
	}
	return &out, nil
}

// run stores an action for req, runs its first attempt and returns what PostgreSQL then
// holds and the outcome.
func (f *fixture) run(req domain.ActionRequest) (*domain.Action, *contract.AttemptOutcome, error) {
	f.t.Helper()
	a := f.newAction(req)
	out, err := f.send(a, 1)
	got, gerr := f.store.ActionByID(context.Background(), a.ID)
	if gerr != nil {
		f.t.Fatal(gerr)
	}
	return got, out, err
}

func appErr(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an application error", err)
	}
	return ae
}

func TestCallSucceedsSignedAndRecorded(t *testing.T) {
	f := newFixture(t, "127.0.0.0/8")
	var got *http.Request
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, r.ContentLength)
		_, _ = r.Body.Read(b)
		got, body = r.Clone(context.Background()), string(b)
		w.Header().Set("X-Receipt", "r-1")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"queued":true}`))
	}))
	defer srv.Close()
	a, out, err := f.run(domain.ActionRequest{Method: "PUT", URL: srv.URL + "/hooks/x?token=abc", Headers: map[string]string{"X-Source": "threada"}, BodyJSON: `{"a": 1}`})
	if err != nil {
		t.Fatal(err)
	}
	if out.Error != "" || !out.Recorded || out.Response == nil || out.Response.StatusCode != 202 {
		t.Errorf("outcome %+v", out)
	}
	if a.Status != domain.ActionSucceeded || a.Attempts != 1 || a.CompletedAt == nil || a.Response == nil ||
		a.Response.StatusCode != 202 || a.Response.Body != `{"queued":true}` || a.Response.Headers["X-Receipt"] != "r-1" {
		t.Errorf("recorded %+v response %+v", a, a.Response)
	}
	if got.Method != "PUT" || got.URL.RequestURI() != "/hooks/x?token=abc" || body != `{"a": 1}` || got.Header.Get("X-Source") != "threada" ||
		got.Header.Get("Idempotency-Key") != a.ID || got.Header.Get(actions.HeaderAttempt) != "1" || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("sent %s %s %q %v", got.Method, got.URL, body, got.Header)
	}
	if err := webhook.Verify(f.secret, got.Header.Get("webhook-id"), got.Header.Get("webhook-timestamp"), got.Header.Get("webhook-signature"), []byte(body), time.Now(), time.Minute); err != nil {
		t.Errorf("signature: %v", err)
	}
}

func TestCallOutcomes(t *testing.T) {
	f := newFixture(t, "127.0.0.0/8")
	serve := func(h http.HandlerFunc) string {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	var followed atomic.Bool
	redirectTarget := serve(func(http.ResponseWriter, *http.Request) { followed.Store(true) })
	// A port nothing listens on, held for the test: a socket bound to it but not listening,
	// so connections are refused, and no server of this test (or any other) gets the port,
	// as one did when it was a listener closed at once.
	refused := func() string {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Close(fd) })
		if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		sa, err := syscall.Getsockname(fd)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("http://127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	}()

	for _, tc := range []struct {
		name        string
		url         string
		maxAttempts int
		timeoutMS   int
		status      string // recorded status
		retryable   bool
		retryAfter  time.Duration
		message     string
	}{
		{name: "500 then retry", url: serve(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }),
			status: domain.ActionRetrying, retryable: true, message: ": 500 Internal Server Error"},
		{name: "500 on the last attempt", url: serve(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(502) }), maxAttempts: 1,
			status: domain.ActionFailed, message: ": 502 Bad Gateway"},
		{name: "429 with Retry-After", url: serve(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
		}), status: domain.ActionRetrying, retryable: true, retryAfter: 7 * time.Second, message: ": 429 Too Many Requests"},
		{name: "503 with a huge Retry-After is capped", url: serve(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "86400")
			w.WriteHeader(503)
		}), status: domain.ActionRetrying, retryable: true, retryAfter: 5 * time.Minute, message: ": 503 Service Unavailable"},
		{name: "408 is retried", url: serve(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(408) }),
			status: domain.ActionRetrying, retryable: true, message: ": 408 Request Timeout"},
		{name: "422 fails at once", url: serve(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(422) }),
			status: domain.ActionFailed, message: ": 422 Unprocessable Entity"},
		{name: "301 is not followed", url: serve(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, redirectTarget, http.StatusMovedPermanently)
		}),
			status: domain.ActionFailed, message: ": 301 Moved Permanently (redirects are not followed)"},
		{name: "slow receiver times out", url: serve(func(http.ResponseWriter, *http.Request) { time.Sleep(time.Second) }), timeoutMS: 150,
			status: domain.ActionRetrying, retryable: true, message: ": no response within 150 ms"},
		{name: "slow receiver on the last attempt", url: serve(func(http.ResponseWriter, *http.Request) { time.Sleep(time.Second) }), timeoutMS: 150, maxAttempts: 1,
			status: domain.ActionTimedOut, message: ": no response within 150 ms"},
		{name: "connection refused", url: refused, status: domain.ActionRetrying, retryable: true, message: "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, out, err := f.run(domain.ActionRequest{Method: "GET", URL: tc.url + "/x", MaxAttempts: tc.maxAttempts, TimeoutMS: tc.timeoutMS})
			if err != nil {
				t.Fatal(err)
			}
			if out.Error == "" || out.Status(1, a.Request.MaxAttempts) != tc.status || out.RetryAfter != tc.retryAfter || !out.Recorded {
				t.Errorf("outcome %+v; want %s, retry after %v, recorded", out, tc.status, tc.retryAfter)
			}
			if a.Status != tc.status || !strings.HasPrefix(a.LastError, "GET ") || !strings.Contains(a.LastError, tc.message) || a.LastError != out.Error {
				t.Errorf("recorded %s %q; want %s with %q", a.Status, a.LastError, tc.status, tc.message)
			}
			if a.Attempts != 1 {
				t.Errorf("recorded %d attempts", a.Attempts)
			}
			if tc.retryable && (a.NextAttemptAt == nil || a.CompletedAt != nil) {
				t.Errorf("retrying without next_attempt_at, or completed: %+v", a)
			}
			if !tc.retryable && a.CompletedAt == nil {
				t.Errorf("final without completed_at")
			}
		})
	}
	if followed.Load() {
		t.Error("a redirect was followed")
	}
}

func TestCallCapsTheResponseBody(t *testing.T) {
	f := newFixture(t, "127.0.0.0/8")
	var wrote atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		chunk := []byte(strings.Repeat("z", 32<<10))
		for i := 0; i < 64; i++ { // 2 MiB, unless the client stops reading
			n, err := w.Write(chunk)
			wrote.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	a, _, err := f.run(domain.ActionRequest{Method: "GET", URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if a.Response == nil || len(a.Response.Body) != domain.MaxResponseBodyBytes || !a.Response.BodyTruncated {
		t.Errorf("body %d bytes, truncated %v", len(a.Response.Body), a.Response.BodyTruncated)
	}
}

// TestEgressGuard: internal destinations are refused at dial time, by literal or by name,
// and fail at once without reaching anything.
func TestEgressGuard(t *testing.T) {
	var reached atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Store(true) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	f := newFixture(t, "") // nothing allowed
	for _, u := range []string{
		srv.URL,                                   // 127.0.0.1
		"http://localhost:" + port,                // a name resolving to loopback
		"http://[::1]:" + port,                    // IPv6 loopback
		"http://[::ffff:127.0.0.1]:" + port,       // IPv4-mapped
		"http://169.254.169.254/latest/meta-data", // cloud metadata
		"http://10.0.0.1/", "http://192.168.1.1/", "http://100.64.0.1/", "http://[fd00::1]/", "http://0.0.0.0:" + port,
	} {
		t.Run(u, func(t *testing.T) {
			a, out, err := f.run(domain.ActionRequest{Method: "GET", URL: u, TimeoutMS: 3000})
			if err != nil || out.Retryable {
				t.Errorf("retryable: %+v %v", out, err)
			}
			if a.Status != domain.ActionFailed || !strings.Contains(a.LastError, "refused to connect") {
				t.Errorf("recorded %s %q", a.Status, a.LastError)
			}
		})
	}
	if reached.Load() {
		t.Error("a refused destination was reached")
	}
	// ACTIONS_EGRESS_ALLOW_CIDRS lets an operator open a range.
	allowed := newFixture(t, "127.0.0.0/8")
	if a, _, err := allowed.run(domain.ActionRequest{Method: "GET", URL: srv.URL}); err != nil || a.Status != domain.ActionSucceeded {
		t.Errorf("allowed loopback: %v %+v", err, a)
	}
}

// TestCallSkipsAFinishedAction: an action canceled meanwhile gets no call.
func TestCallSkipsAFinishedAction(t *testing.T) {
	f := newFixture(t, "127.0.0.0/8")
	var reached atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Store(true) }))
	defer srv.Close()
	a := f.newAction(domain.ActionRequest{Method: "GET", URL: srv.URL, TimeoutMS: 1000, MaxAttempts: 1})
	if ok, err := f.store.CancelUnstarted(context.Background(), f.tenant, a.ID); !ok || err != nil {
		t.Fatal(ok, err)
	}
	_, err := f.send(a, 1)
	if ae := appErr(t, err); ae.Type() != contract.ErrTypeRecorded || !ae.NonRetryable() {
		t.Errorf("error %v", err)
	}
	if reached.Load() {
		t.Error("a canceled action was called")
	}
}

// TestCallSignsWithBothSecretsDuringOverlap: after a signing secret rotation, calls carry
// a signature with each secret until the overlap ends, so receivers switch without loss.
func TestCallSignsWithBothSecretsDuringOverlap(t *testing.T) {
	f := newFixture(t, "127.0.0.0/8")
	newSecret := webhook.NewSecret()
	if _, _, err := f.store.RotateSigningSecret(context.Background(), f.tenant, f.acts.Secrets.Seal(newSecret, f.tenant), time.Hour); err != nil {
		t.Fatal(err)
	}
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	if _, _, err := f.run(domain.ActionRequest{Method: "POST", URL: srv.URL, BodyJSON: `{"x":1}`}); err != nil {
		t.Fatal(err)
	}
	sigs := got.Get("webhook-signature")
	if n := len(strings.Fields(sigs)); n != 2 {
		t.Fatalf("signature header %q holds %d signatures, want 2", sigs, n)
	}
	for name, secret := range map[string]string{"new": newSecret, "old": f.secret} {
		if err := webhook.Verify(secret, got.Get("webhook-id"), got.Get("webhook-timestamp"), sigs, []byte(`{"x":1}`), time.Now(), time.Minute); err != nil {
			t.Errorf("the %s secret does not verify: %v", name, err)
		}
	}

	// Without overlap the old secret stops signing at once (a fresh worker cache).
	g := newFixture(t, "127.0.0.0/8")
	if _, _, err := g.store.RotateSigningSecret(context.Background(), g.tenant, g.acts.Secrets.Seal(newSecret, g.tenant), 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.run(domain.ActionRequest{Method: "POST", URL: srv.URL, BodyJSON: `{}`}); err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(got.Get("webhook-signature"))); n != 1 {
		t.Errorf("%d signatures after a rotation without overlap", n)
	}
}

// TestCallKeepsBodiesPostgreSQLCannotStore: a receiver's body with NUL bytes, invalid
// UTF-8 or the text \u0000 is recorded (NUL and invalid bytes as U+FFFD), so a hostile
// receiver cannot make the outcome unrecordable.
func TestCallKeepsBodiesPostgreSQLCannotStore(t *testing.T) {
	f := newFixture(t, "127.0.0.0/8")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("a\x00b\xffc \\u0000 {\"k\": \"\\u0000\"}"))
	}))
	defer srv.Close()
	a, out, err := f.run(domain.ActionRequest{Method: "GET", URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	want := "a\uFFFDb\uFFFDc \\u0000 {\"k\": \"\\u0000\"}"
	if !out.Recorded || a.Status != domain.ActionSucceeded || a.Response == nil || a.Response.Body != want {
		t.Fatalf("recorded %v, status %s, response %+v", out.Recorded, a.Status, a.Response)
	}
}
