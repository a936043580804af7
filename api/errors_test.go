package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func TestErrorsAlwaysUseThePublicShape(t *testing.T) {
	e := newTestEnv(t)
	_, key := e.tenantWithKey()
	e.app.Get("/api/v1/public/test-panic", func(*fiber.Ctx) error { panic("secret internals") })

	for _, tc := range []struct {
		name   string
		r      req
		status int
		typ    string
	}{
		{"unknown route", req{method: "GET", path: "/api/v1/public/nothing-here", key: key}, 404, "not_found_error"},
		{"unknown route outside the API", req{method: "GET", path: "/favicon.ico"}, 404, "not_found_error"},
		{"wrong method", req{method: "DELETE", path: "/api/v1/public/tickets", key: key}, 405, "invalid_request_error"},
		{"wrong content type", req{method: "POST", path: "/api/v1/public/tickets", key: key, body: `{"subject": "s"}`, header: map[string]string{"Content-Type": "text/plain"}}, 415, "invalid_request_error"},
		{"form body", req{method: "POST", path: "/api/v1/public/tickets", key: key, body: `subject=s`, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, "invalid_request_error"},
		{"malformed JSON", req{method: "POST", path: "/api/v1/public/tickets", key: key, body: `{"subject": }`}, 400, "invalid_request_error"},
		{"panic", req{method: "GET", path: "/api/v1/public/test-panic"}, 500, "api_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do(tc.r)
			wantError(t, resp, tc.status, tc.typ, "")
		})
	}
	if n := countTickets(t, e, key); n != 0 {
		t.Errorf("refused requests created %d tickets", n)
	}
	resp := e.do(req{method: "GET", path: "/api/v1/public/test-panic"})
	if strings.Contains(string(resp.Body), "secret internals") {
		t.Errorf("500 shows internals: %s", resp.Body)
	}
	reqID := resp.Header.Get("X-Request-Id")
	if !strings.Contains(e.logs.String(), "secret internals") || !strings.Contains(e.logs.String(), reqID) {
		t.Errorf("the panic was not logged with its request id %s", reqID)
	}
}

// TestBodyLimit runs over a real socket: fasthttp refuses an oversized body before any
// handler runs, which app.Test reports as an error instead of the response.
func TestBodyLimit(t *testing.T) {
	e := newTestEnv(t)
	_, key := e.tenantWithKey()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.app.Listener(ln) }()
	t.Cleanup(func() { _ = e.app.Shutdown() })

	// A raw connection: the server answers 413 and closes as soon as it has read the
	// headers, which makes net/http's client report the reset instead of the answer.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	big := `{"subject": "` + strings.Repeat("x", 1<<20) + `"}`
	go func() {
		fmt.Fprintf(conn, "POST /api/v1/public/tickets HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nX-Api-Key: %s\r\nContent-Length: %d\r\n\r\n%s", key, len(big), big)
	}()
	hresp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hresp.Body.Close()
	body, _ := io.ReadAll(hresp.Body)
	resp := &response{Status: hresp.StatusCode, Header: hresp.Header, Body: body}
	doc, _ := spec(t)
	checkErrorBody(t, doc, req{method: "POST", path: "/api/v1/public/tickets"}, resp)
	wantError(t, resp, http.StatusRequestEntityTooLarge, "invalid_request_error", "")
	if n := countTickets(t, e, key); n != 0 {
		t.Errorf("an oversized body created %d tickets", n)
	}
}

func TestRequestIDs(t *testing.T) {
	e := newTestEnv(t)
	_, key := e.tenantWithKey()
	resp := e.do(req{method: "GET", path: "/api/v1/public/tickets", key: key, header: map[string]string{"X-Request-Id": "client-trace-123"}})
	if got := resp.Header.Get("X-Request-Id"); got != "client-trace-123" {
		t.Errorf("X-Request-Id %q, want the client's", got)
	}
	resp = e.do(req{method: "GET", path: "/api/v1/public/tickets/tkt_00000000000000000000000000", key: key, header: map[string]string{"X-Request-Id": "trace-404"}})
	if resp.apiError(t).RequestID != "trace-404" {
		t.Errorf("error body request_id %q", resp.apiError(t).RequestID)
	}
	// A malformed one is replaced, not echoed.
	resp = e.do(req{method: "GET", path: "/api/v1/public/tickets", key: key, header: map[string]string{"X-Request-Id": "bad id with spaces"}})
	if got := resp.Header.Get("X-Request-Id"); !strings.HasPrefix(got, "req_") {
		t.Errorf("X-Request-Id %q, want a generated req_...", got)
	}
}

// TestAccessLog: one structured line per request with request id, tenant, key id, route,
// status and duration, and never the key.
func TestAccessLog(t *testing.T) {
	e := newTestEnv(t)
	tenant, key := e.tenantWithKey()
	e.do(req{method: "POST", path: "/api/v1/public/tickets", key: key, body: map[string]any{"subject": "logged"}, header: map[string]string{"X-Request-Id": "log-me"}})
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if m["request_id"] == "log-me" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no log line for the request in:\n%s", e.logs.String())
	}
	keyID, _ := strings.CutPrefix(key, "thr_")
	want := map[string]any{"msg": "request", "method": "POST", "route": "/api/v1/public/tickets", "status": float64(201), "tenant_id": tenant, "key_id": "key_" + keyID[:26]}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log %s = %v, want %v", k, line[k], v)
		}
	}
	if _, ok := line["duration_ms"].(float64); !ok {
		t.Errorf("log has no duration_ms: %v", line)
	}
	if strings.Contains(e.logs.String(), key) {
		t.Error("the API key secret is in the logs")
	}
}

func TestOpenAPIDocumentIsServed(t *testing.T) {
	e := newTestEnv(t)
	resp := e.do(req{method: "GET", path: "/api/v1/public/openapi.json"})
	if resp.Status != http.StatusOK {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	resp.decode(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	// Every route the app serves under the public and admin prefixes is documented.
	for _, r := range e.app.GetRoutes(true) {
		if !strings.HasPrefix(r.Path, publicPrefix) && !strings.HasPrefix(r.Path, adminPrefix) ||
			r.Method == "HEAD" || r.Name == refusingRoute || strings.Contains(r.Path, "/test-") {
			continue
		}
		path := openAPIPath(r.Path)
		if _, ok := doc.Paths[path][strings.ToLower(r.Method)]; !ok {
			t.Errorf("%s %s is served but not documented", r.Method, path)
		}
	}
}

// openAPIPath turns Fiber's /tickets/:ticket_id into OpenAPI's /tickets/{ticket_id}.
func openAPIPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if name, ok := strings.CutPrefix(s, ":"); ok {
			parts[i] = "{" + name + "}"
		}
	}
	return strings.Join(parts, "/")
}
