package main

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestPoolExhaustedAnswers503: when every pooled connection is taken, a request waits at
// most its database bound and answers 503 with Retry-After, never hangs; once connections
// are free again it is served.
func TestPoolExhaustedAnswers503(t *testing.T) {
	e := newTestEnv(t)
	_, key := e.tenantWithKey()
	get := func() *response { return e.do(req{method: "GET", path: "/api/v1/public/tickets", key: key}) }
	if resp := get(); resp.Status != http.StatusOK { // warms the key cache
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
	e.srv.dbTimeout = 300 * time.Millisecond
	var held []interface{ Close() error }
	for range e.store.DB().Stats().MaxOpenConnections {
		conn, err := e.store.DB().Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
	}
	start := time.Now()
	resp := get()
	wantError(t, resp, http.StatusServiceUnavailable, "service_unavailable_error", "")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("answered after %s", d)
	}
	for _, c := range held {
		_ = c.Close()
	}
	if resp := get(); resp.Status != http.StatusOK {
		t.Fatalf("after the pool freed up: %d %s", resp.Status, resp.Body)
	}
}
