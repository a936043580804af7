package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/threada/threada/internal/webhook"
)

// echoReceiver serves a local endpoint for trying actions: it prints each request as a
// JSON line, checks its Standard Webhooks signature when WEBHOOK_SECRET is set, and
// answers 200, or 503 to the first --fail-first requests of each action to show retries,
// or the status a path /status/NNN names (404 to show a permanent failure, say).
func echoReceiver(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("echo-receiver", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9080", "listen address")
	failFirst := fs.Int("fail-first", 0, "answer 503 to this many attempts of each action first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret := getenv("WEBHOOK_SECRET")
	var mu sync.Mutex
	seen := map[string]int{}
	enc := json.NewEncoder(stdout)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		id := r.Header.Get(webhook.HeaderID)
		verified := "no WEBHOOK_SECRET set"
		if secret != "" {
			verified = "ok"
			if err := webhook.Verify(secret, id, r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
				verified = err.Error()
			}
		}
		mu.Lock()
		seen[id]++
		n := seen[id]
		status := http.StatusOK
		if n <= *failFirst {
			status = http.StatusServiceUnavailable
		}
		if code, ok := statusFromPath(r.URL.Path); ok {
			status = code
		}
		line := map[string]any{
			"method": r.Method, "path": r.URL.RequestURI(), "idempotency_key": r.Header.Get("Idempotency-Key"),
			"attempt": r.Header.Get("X-Threada-Attempt"), "signature": verified, "body": string(body), "answered": status,
		}
		if tp := r.Header.Get("traceparent"); tp != "" { // with tracing on: the trace to join
			line["traceparent"] = tp
		}
		_ = enc.Encode(line)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"received":true,"attempt":%d}`, n)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// statusFromPath reads the status a path /status/NNN asks for (200 to 599).
func statusFromPath(path string) (int, bool) {
	rest, ok := strings.CutPrefix(path, "/status/")
	if !ok {
		return 0, false
	}
	code, err := strconv.Atoi(rest)
	if err != nil || code < 200 || code > 599 {
		return 0, false
	}
	return code, true
}
