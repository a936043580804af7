package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchRateLimit: ticket list throughput through the HTTP API with the limiter evaluated on
// every request (limits high enough never to refuse) and with it off, on one database, in
// alternating rounds.
func benchRateLimit(t *testing.T) {
	const (
		concurrency = 16
		round       = 3 * time.Second
	)
	e := newTestEnv(t)
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	_, key := e.tenantWithKey()
	for i := 0; i < 50; i++ {
		e.mustTicket(key, map[string]any{"subject": fmt.Sprintf("t%d", i)})
	}
	serve := func(keyRPS, tenantRPS int) string {
		cfg := e.cfg
		cfg.RateLimitKeyRPS, cfg.RateLimitTenantRPS = keyRPS, tenantRPS
		srv, err := newServer(e.store, e.srv.actions, quiet, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		app := srv.app()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = app.Listener(ln) }()
		t.Cleanup(func() { _ = app.Shutdown() })
		return "http://" + ln.Addr().String() + "/api/v1/public/tickets?limit=25"
	}
	with := serve(1_000_000_000, 1_000_000_000)
	without := serve(0, 0)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}}
	run := func(url string) float64 {
		var n atomic.Int64
		deadline := time.Now().Add(round)
		var wg sync.WaitGroup
		for w := 0; w < concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					req, _ := http.NewRequest("GET", url, nil)
					req.Header.Set("X-Api-Key", key)
					resp, err := client.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					var page listJSON[json.RawMessage]
					_ = json.NewDecoder(resp.Body).Decode(&page)
					resp.Body.Close()
					if resp.StatusCode != 200 || len(page.Items) != 25 {
						t.Errorf("status %d, %d items", resp.StatusCode, len(page.Items))
						return
					}
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		return float64(n.Load()) / round.Seconds()
	}
	run(with) // warm up both
	run(without)
	var on, off []float64
	for r := 0; r < 2; r++ {
		on = append(on, run(with))
		off = append(off, run(without), run(without))
		on = append(on, run(with))
	}
	fmt.Printf("\nRate limiter: GET /tickets (page of 25) at concurrency %d, %v rounds in the order on, off, off, on (twice)\n\n", concurrency, round)
	fmt.Println("| measurement | limiter on (never refusing) | limiter off | difference | aim |")
	fmt.Println("|---|---|---|---|---|")
	fmt.Printf("| ticket list requests/s (runs %s vs %s) | %.0f | %.0f | %+.1f%% | under 5%% |\n", rates(on), rates(off), mean(on), mean(off), (mean(on)/mean(off)-1)*100)
	fmt.Println()
}
