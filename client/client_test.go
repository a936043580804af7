package client

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestGeneratedClientIsCurrent: client.gen.go is what the pinned generator makes of
// api/openapi.yaml today (run `make generate` when the document changes).
func TestGeneratedClientIsCurrent(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "client.gen.go")
	cfg, err := os.ReadFile("oapi-codegen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "oapi-codegen.yaml")
	if err := os.WriteFile(config, bytes.Replace(cfg, []byte("output: client.gen.go"), []byte("output: "+out), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "tool", "oapi-codegen", "-config", config, "../api/openapi.yaml")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, msg)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	current, err := os.ReadFile("client.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, current) {
		t.Fatal("client/client.gen.go is stale: run `make generate`")
	}
}

// TestRetriesKeepOneIdempotencyKey: a POST answered 429 is sent again after Retry-After,
// with the same Idempotency-Key, so it creates once; the key rides on every request.
func TestRetriesKeepOneIdempotencyKey(t *testing.T) {
	var mu sync.Mutex
	var keys, apiKeys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		apiKeys = append(apiKeys, r.Header.Get("X-Api-Key"))
		n := len(keys)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error": {"type": "rate_limit_error", "message": "slow down", "code": 429}}`))
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"ticket": {"summary": {"ticket_id": "tkt_1", "subject": "s"}, "messages": [], "contact": null, "has_more_messages": false}}`))
	}))
	defer srv.Close()
	c, err := New(srv.URL, "thr_test", Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := c.CreateTicketWithResponse(context.Background(), &CreateTicketParams{}, CreateTicketJSONRequestBody{Subject: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusCreated || resp.JSON201.Ticket.Summary.TicketId != "tkt_1" {
		t.Fatalf("answer %d %s", resp.StatusCode(), resp.Body)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("retried after %s; Retry-After said 1 s", d)
	}
	if len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] || apiKeys[0] != "thr_test" || apiKeys[1] != "thr_test" {
		t.Errorf("Idempotency-Keys %q, API keys %q", keys, apiKeys)
	}
}
