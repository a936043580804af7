package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gofiber/fiber/v2"
	"go.temporal.io/sdk/client"

	"github.com/threada/threada/internal/actions"
	"github.com/threada/threada/internal/auth"
	"github.com/threada/threada/internal/config"
	"github.com/threada/threada/internal/dbtest"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/gateway"
	"github.com/threada/threada/internal/sealing"
	"github.com/threada/threada/internal/secretbox"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/internal/telemetry"
	"github.com/threada/threada/internal/temporaltest"
	"github.com/threada/threada/internal/webhook"
)

func TestMain(m *testing.M) {
	os.Exit(temporaltest.Main(func() int { return dbtest.Main(m) }))
}

var (
	specOnce   sync.Once
	specDoc    *openapi3.T
	specRouter routers.Router
	specErr    error
)

// spec returns the OpenAPI document and a router over it, loaded once per test binary.
func spec(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	specOnce.Do(func() {
		specDoc, specErr = loadOpenAPI()
		if specErr == nil {
			// Paths carry their full path; the servers name hosts, which test requests
			// (to example.com) do not match, so the router matches on paths alone.
			routing := *specDoc
			routing.Servers = openapi3.Servers{{URL: "/"}}
			specRouter, specErr = gorillamux.NewRouter(&routing)
		}
	})
	if specErr != nil {
		t.Fatal(specErr)
	}
	return specDoc, specRouter
}

// testEnv is an API on its own throwaway database, driven through app.Test.
type testEnv struct {
	t       *testing.T
	store   *store.Store
	srv     *server
	app     *fiber.App
	logs    *syncBuffer
	cfg     config.Config
	box     *secretbox.Box
	keys    *sealing.Keyring  // seals the Temporal payloads of e's client (see temporal)
	secrets map[string]string // tenant id -> webhook signing secret
}

// temporal is e's Temporal client, which seals and opens payloads with e's data keys as the
// binaries' do: workers that run e's workflows must be made on it (or on keys.ClientOptions).
func (e *testEnv) temporal() client.Client { return e.srv.actions.Client() }

// syncBuffer collects log output from concurrent requests.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newTestEnv serves the API on a fresh database. Its Temporal client points at an address
// where nothing listens: enough for every endpoint but the actions ones, which
// newActionEnv wires to a real Temporal server and worker.
func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	return newEnvWithTemporal(t, "127.0.0.1:1")
}

func newEnvWithTemporal(t *testing.T, temporalAddr string) *testEnv {
	t.Helper()
	return newEnvOn(t, temporalAddr, dbtest.New(t))
}

// newEnvOn serves the API on an existing store. A fuzz target passes its *testing.F and
// sets the env's t for each input.
func newEnvOn(t testing.TB, temporalAddr string, st *store.Store) *testEnv {
	t.Helper()
	return newObservedEnv(t, temporalAddr, st, nil)
}

// newObservedEnv is newEnvOn with telemetry: its requests, and its Temporal client's
// workflow starts, record into tel.
func newObservedEnv(t testing.TB, temporalAddr string, st *store.Store, tel *telemetry.Telemetry) *testEnv {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	cfg, err := config.Load(func(k string) string {
		return map[string]string{
			"TEMPORAL_ADDRESS":               temporalAddr,
			"TEMPORAL_TASK_QUEUE":            "test-" + domain.NewID("q"),
			"SECRETS_KEY":                    secretbox.NewKey(),
			"TEMPORAL_UI_URL":                "http://127.0.0.1:8233",
			"CODEC_TOKEN":                    testCodecToken,
			"RATE_LIMIT_KEY_RPS":             "0", // rate limits have their own tests
			"RATE_LIMIT_TENANT_RPS":          "0",
			"RATE_LIMIT_UNAUTHENTICATED_RPS": "0",
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	box, err := cfg.Box()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sealing.NewKeyring(st, box)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := gateway.Dial(cfg.TemporalAddress, cfg.TemporalNamespace, log, tel, keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	srv, err := newServer(st, actions.NewRunner(tc, st, log, cfg), log, cfg, tel)
	if err != nil {
		t.Fatal(err)
	}
	srv.keys = keys
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go srv.background(ctx)
	tt, _ := t.(*testing.T)
	return &testEnv{t: tt, store: st, srv: srv, app: srv.app(), logs: logs, cfg: cfg, box: box, keys: keys, secrets: map[string]string{}}
}

func (e *testEnv) newTenant(name string) string {
	e.t.Helper()
	return e.newTenantWith(domain.Tenant{Name: name})
}

// newTenantWith stores a tenant with a fresh signing secret, kept in e.secrets.
func (e *testEnv) newTenantWith(tn domain.Tenant) string {
	e.t.Helper()
	tn.ID = domain.NewID(domain.PrefixTenant)
	secret := webhook.NewSecret()
	if err := e.store.CreateTenant(context.Background(), &tn, e.box.Seal(secret, tn.ID)); err != nil {
		e.t.Fatal(err)
	}
	e.secrets[tn.ID] = secret
	return tn.ID
}

// newKey issues a key for tenantID with scopes and returns its secret.
func (e *testEnv) newKey(tenantID string, scopes ...string) string {
	e.t.Helper()
	k := &domain.APIKey{ID: domain.NewID(domain.PrefixKey), TenantID: tenantID, Name: "test", Scopes: scopes}
	secret, hash := auth.NewSecret(k.ID)
	k.Prefix = auth.DisplayPrefix(secret)
	if err := e.store.CreateKey(context.Background(), k, hash); err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// tenantWithKey makes a tenant and a key with every support scope.
func (e *testEnv) tenantWithKey() (tenantID, key string) {
	tenantID = e.newTenant("Acme")
	return tenantID, e.newKey(tenantID, domain.AllScopes...)
}

// response is what a test request got back.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.Body, err)
	}
}

// apiError decodes the error body.
func (r *response) apiError(t testing.TB) errorDetail {
	t.Helper()
	var b errorBody
	r.decode(t, &b)
	return b.Error
}

// req is one request; body is marshalled to JSON unless it is a string or []byte.
type req struct {
	method, path, key string
	body              any
	header            map[string]string
}

// do sends r through the app and checks both directions against the OpenAPI document:
// every response must match it, and a request the document refuses must not succeed.
func (e *testEnv) do(r req) *response {
	e.t.Helper()
	return doValidated(e.t, e.app, r)
}

func doValidated(t testing.TB, app *fiber.App, r req) *response {
	t.Helper()
	var body []byte
	switch b := r.body.(type) {
	case nil:
	case string:
		body = []byte(b)
	case []byte:
		body = b
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	hreq := httptest.NewRequest(r.method, r.path, bytes.NewReader(body))
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if r.key != "" {
		hreq.Header.Set(headerAPIKey, r.key)
	}
	for k, v := range r.header {
		hreq.Header.Set(k, v)
	}
	hresp, err := app.Test(hreq, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer hresp.Body.Close()
	respBody, err := io.ReadAll(hresp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp := &response{Status: hresp.StatusCode, Header: hresp.Header, Body: respBody}
	validateAgainstSpec(t, r, body, resp)
	return resp
}

func validateAgainstSpec(t testing.TB, r req, body []byte, resp *response) {
	t.Helper()
	doc, router := spec(t)
	ctx := context.Background()
	if resp.Header.Get(headerRequestID) == "" {
		t.Errorf("%s %s: no X-Request-Id in the response", r.method, r.path)
	}
	vreq := httptest.NewRequest(r.method, r.path, bytes.NewReader(body))
	vreq.Header.Set("Content-Type", "application/json")
	for k, v := range r.header {
		vreq.Header.Set(k, v)
	}
	route, params, err := router.FindRoute(vreq)
	if err != nil {
		// Not a documented operation: it must be an error in the public error shape.
		if resp.Status < 400 {
			t.Errorf("%s %s: undocumented route answered %d", r.method, r.path, resp.Status)
		}
		checkErrorBody(t, doc, r, resp)
		return
	}
	in := &openapi3filter.RequestValidationInput{
		Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: false},
	}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil && resp.Status < 400 {
		t.Errorf("%s %s: the server accepted (%d) a request the OpenAPI document refuses: %v", r.method, r.path, resp.Status, err)
	}
	rin := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.Status,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(resp.Body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(ctx, rin); err != nil {
		t.Errorf("%s %s: response %d does not match the OpenAPI document: %v\nbody: %s", r.method, r.path, resp.Status, err, resp.Body)
	}
	if resp.Status >= 400 {
		checkErrorBody(t, doc, r, resp)
	}
}

// checkErrorBody checks the error shape and that code equals the HTTP status.
func checkErrorBody(t testing.TB, doc *openapi3.T, r req, resp *response) {
	t.Helper()
	var v any
	if err := json.Unmarshal(resp.Body, &v); err != nil {
		t.Errorf("%s %s: error body is not JSON: %q", r.method, r.path, resp.Body)
		return
	}
	if err := doc.Components.Schemas["Error"].Value.VisitJSON(v); err != nil {
		t.Errorf("%s %s: error body does not match the Error schema: %v\nbody: %s", r.method, r.path, err, resp.Body)
	}
	var b errorBody
	_ = json.Unmarshal(resp.Body, &b)
	if b.Error.Code != resp.Status {
		t.Errorf("%s %s: error code %d differs from HTTP status %d", r.method, r.path, b.Error.Code, resp.Status)
	}
	if b.Error.RequestID != resp.Header.Get(headerRequestID) {
		t.Errorf("%s %s: error request_id %q differs from X-Request-Id %q", r.method, r.path, b.Error.RequestID, resp.Header.Get(headerRequestID))
	}
}

// wantError checks status, type and, when given, that the message names param.
func wantError(t testing.TB, resp *response, status int, typ, param string) {
	t.Helper()
	if resp.Status != status {
		t.Fatalf("status %d, want %d; body %s", resp.Status, status, resp.Body)
	}
	d := resp.apiError(t)
	if d.Type != typ {
		t.Errorf("error type %q, want %q (%s)", d.Type, typ, resp.Body)
	}
	if param != "" && d.Param != param {
		t.Errorf("error param %q, want %q (%s)", d.Param, param, resp.Body)
	}
	if param != "" && !strings.Contains(d.Message, strings.TrimPrefix(param, "initial_message.")) {
		t.Errorf("error message %q does not name %q", d.Message, param)
	}
}

// ticketJSON mirrors ticketEnvelope with plain strings for timestamps, for decoding.
type ticketJSON struct {
	Ticket struct {
		Summary struct {
			TicketID      string   `json:"ticket_id"`
			TenantID      string   `json:"tenant_id"`
			Subject       string   `json:"subject"`
			Status        string   `json:"status"`
			Priority      string   `json:"priority"`
			Channel       string   `json:"channel"`
			Tags          []string `json:"tags"`
			LastMessageAt string   `json:"last_message_at"`
			CreatedAt     string   `json:"created_at"`
			UpdatedAt     string   `json:"updated_at"`
			MessageCount  int      `json:"message_count"`
		} `json:"summary"`
		Contact         *contactView  `json:"contact"`
		Messages        []messageJSON `json:"messages"`
		HasMoreMessages bool          `json:"has_more_messages"`
	} `json:"ticket"`
}

type messageJSON struct {
	MessageID         string `json:"message_id"`
	TicketID          string `json:"ticket_id"`
	Role              string `json:"role"`
	Content           string `json:"content"`
	Channel           string `json:"channel"`
	ExternalMessageID string `json:"external_message_id"`
	CreatedAt         string `json:"created_at"`
}

type listJSON[T any] struct {
	Items         []T    `json:"items"`
	NextPageToken string `json:"next_page_token"`
}

func (e *testEnv) mustTicket(key string, body any) ticketJSON {
	e.t.Helper()
	resp := e.do(req{method: "POST", path: "/api/v1/public/tickets", key: key, body: body})
	if resp.Status != http.StatusCreated {
		e.t.Fatalf("create ticket: %d %s", resp.Status, resp.Body)
	}
	var out ticketJSON
	resp.decode(e.t, &out)
	return out
}

// testCodecToken is the test environments' CODEC_TOKEN (the codec endpoint's ops credential).
const testCodecToken = "test-codec-token-0123456789abcdef0123456789"
