package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/threada/threada/internal/actions"
	"github.com/threada/threada/internal/automations"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/temporaltest"
)

// benchAutomations: from a PATCH through the API to the matched custom_http reaching a
// local receiver: outbox, LISTEN/NOTIFY, evaluation, action, workflow, activity.
func benchAutomations(t *testing.T) {
	const samples = 100
	ts := temporaltest.Shared(t)
	e := newEnvWithTemporal(t, ts.Addr)
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	e.srv.log = quiet
	e.srv.actions = actions.NewRunner(e.srv.actions.Client(), e.store, quiet, e.cfg)
	e.app = e.srv.app()
	tc := ts.WorkerClient(t)

	var mu sync.Mutex
	arrived := map[string]time.Time{}
	recvLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = http.Serve(recvLn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body struct{ Ticket string }
			_ = json.NewDecoder(r.Body).Decode(&body)
			mu.Lock()
			if _, ok := arrived[body.Ticket]; !ok {
				arrived[body.Ticket] = time.Now()
			}
			mu.Unlock()
		}))
	}()
	defer recvLn.Close()

	defer startBenchWorker(t, e, tc)()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runner := actions.NewRunner(tc, e.store, quiet, e.cfg)
	engine := &automations.Engine{Store: e.store, Log: quiet, Start: func(ctx context.Context, a *domain.Action) { _ = runner.Start(ctx, a) }}
	go engine.Run(ctx)

	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.app.Listener(apiLn) }()
	defer e.app.Shutdown()
	base := "http://" + apiLn.Addr().String() + "/api/v1/public"
	f := e.actionFixture("http://" + recvLn.Addr().String())
	e.newAutomation(f, map[string]any{
		"name": "page on urgent", "events": []string{"ticket.updated"}, "condition": `changed_to("priority", "urgent")`,
		"actions": []any{map[string]any{"type": "custom_http", "method": "POST", "url": "/hooks/pager", "body_json": `{"ticket": "{{ ticket.ticket_id }}"}`}},
	})

	call := func(method, path string, body any) []byte {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Api-Key", f.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
		}
		return out
	}
	var lat []time.Duration
	for i := 0; i < samples+5; i++ {
		var tk ticketJSON
		_ = json.Unmarshal(call("POST", "/tickets", map[string]any{"subject": "bench"}), &tk)
		id := tk.Ticket.Summary.TicketID
		start := time.Now()
		call("PATCH", "/tickets/"+id, map[string]any{"priority": "urgent"})
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			at, ok := arrived[id]
			mu.Unlock()
			if ok {
				if i >= 5 { // the first few warm up
					lat = append(lat, at.Sub(start))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("ticket %s: the call never arrived", id)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	fmt.Printf("\nAutomations: PATCH priority=urgent through the API -> outbox -> rule -> custom_http at a local receiver, %d sequential samples\n\n", samples)
	fmt.Println("| measurement | value |")
	fmt.Println("|---|---|")
	fmt.Printf("| PATCH to receiver p50 | %s |\n", ms(percentile(lat, 50)))
	fmt.Printf("| PATCH to receiver p99 | %s |\n", ms(percentile(lat, 99)))
	fmt.Println()
}
