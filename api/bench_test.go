package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threada/threada/internal/domain"
)

// TestBenchReport is `make bench`: the ticket API and the actions pipeline, each next to
// its baseline in the same run. It runs only with THREADA_BENCH=1.
func TestBenchReport(t *testing.T) {
	if os.Getenv("THREADA_BENCH") == "" {
		t.Skip("set THREADA_BENCH=1 (make bench) to run the benchmark report")
	}
	fmt.Printf("\nThreada benchmarks (%s, %d CPUs, %s)\n", time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.Version())
	t.Run("writingrule", benchWritingRule)
	t.Run("writes", benchWrites)
	t.Run("sustained", benchSustained)
	t.Run("tickets", benchTickets)
	t.Run("ratelimit", benchRateLimit)
	t.Run("actions", benchActions)
	t.Run("automations", benchAutomations)
	t.Run("circuit", benchCircuit)
	t.Run("attemptlog", benchAttemptLog)
	t.Run("timers", benchTimers)
	t.Run("fairness", benchFairness)
	t.Run("scale", benchScale)
}

// benchTickets: list latency at page 1 and page 200.
func benchTickets(t *testing.T) {
	const (
		creates     = 3000
		concurrency = 16
		pageSize    = 25
		listSamples = 400
	)
	e := newTestEnv(t)
	e.srv.log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	e.app = e.srv.app()
	tenant, key := e.tenantWithKey()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.app.Listener(ln) }()
	defer e.app.Shutdown()
	base := "http://" + ln.Addr().String() + "/api/v1/public"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}}

	in := domain.TicketCreate{
		Subject: "Where is my order?", Priority: "normal", Channel: "email",
		Contact: &domain.Contact{Name: "Ada", Email: "ada@example.com"}, Tags: []string{"returns"},
		InitialMessage: &domain.MessageCreate{Role: "user", Content: "It has not arrived yet."},
	}
	if err := in.Normalize(); err != nil {
		t.Fatal(err)
	}

	rate(t, creates, concurrency, func() error { // the tickets to list
		_, err := e.store.CreateTicket(context.Background(), tenant, in)
		return err
	})
	// Autovacuum analyzes a table this size within a minute in production; do it now so
	// the planner sees the data the requests run against.
	if _, err := e.store.DB().ExecContext(context.Background(), "ANALYZE tickets"); err != nil {
		t.Fatal(err)
	}
	get := func(query string) (string, time.Duration) {
		start := time.Now()
		hreq, _ := http.NewRequest("GET", base+"/tickets?"+query, nil)
		hreq.Header.Set("X-Api-Key", key)
		resp, err := client.Do(hreq)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var page listJSON[json.RawMessage]
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 || len(page.Items) != pageSize {
			t.Fatalf("list %s: %d, %d items, %v", query, resp.StatusCode, len(page.Items), err)
		}
		return page.NextPageToken, time.Since(start)
	}
	// Walk to page 200 once to learn its token.
	token := ""
	for page := 1; page < 200; page++ {
		q := fmt.Sprintf("limit=%d", pageSize)
		if token != "" {
			q += "&page_token=" + url.QueryEscape(token)
		}
		token, _ = get(q)
	}
	page200 := fmt.Sprintf("limit=%d&page_token=%s", pageSize, url.QueryEscape(token))
	page1 := fmt.Sprintf("limit=%d", pageSize)
	var lat1, lat200 []time.Duration
	for i := 0; i < listSamples; i++ { // interleaved, so both see the same machine state
		_, d := get(page1)
		lat1 = append(lat1, d)
		_, d = get(page200)
		lat200 = append(lat200, d)
	}
	p50a, p99a := percentile(lat1, 50), percentile(lat1, 99)
	p50b, p99b := percentile(lat200, 50), percentile(lat200, 99)

	fmt.Printf("\nTicket listing: %d tickets, %d samples per page\n\n", creates, listSamples)
	fmt.Println("| measurement | HTTP API | reference | ratio | aim |")
	fmt.Println("|---|---|---|---|---|")
	fmt.Printf("| list p50, page 200 vs page 1 | %s | %s | %.2fx | <= 1.5x |\n", ms(p50b), ms(p50a), float64(p50b)/float64(p50a))
	fmt.Printf("| list p99, page 200 vs page 1 | %s | %s | %.2fx | <= 1.5x |\n", ms(p99b), ms(p99a), float64(p99b)/float64(p99a))
	fmt.Println()
}

// rate runs op n times over workers goroutines and returns operations per second.
func rate(t *testing.T, n, workers int, op func() error) float64 {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := op(); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	return float64(n) / time.Since(start).Seconds()
}

func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s[i]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
