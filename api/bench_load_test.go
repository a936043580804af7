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
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threada/threada/internal/automations"
	"github.com/threada/threada/internal/domain"
)

// loadEnv is an API served over HTTP on a throwaway database, with a tenant whose
// automations evaluate every ticket event and an outbox worker (the automation engine, as
// the worker process runs it) consuming them, in this process.
type loadEnv struct {
	*testEnv
	tenant, key, base string
	client            *http.Client
	stop              func()
}

// escalatedTag is what the benchmark tenant's ticket.updated rule adds to an urgent ticket.
const escalatedTag = "escalated"

func newLoadEnv(t *testing.T, clients, workers int) *loadEnv {
	t.Helper()
	e := newTestEnv(t)
	e.srv.log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	e.app = e.srv.app()
	tenant, key := e.tenantWithKey()
	for _, a := range []struct {
		name, cond, event string
		action            domain.AutomationAction
	}{
		{"email triage", `ticket.channel == "email" && has_tag("vip")`, domain.EventTicketCreated, domain.AutomationAction{Type: domain.AutomationSetFields, AddTags: []string{"triaged"}}},
		{"escalate urgent", `ticket.priority == "urgent"`, domain.EventTicketUpdated, domain.AutomationAction{Type: domain.AutomationSetFields, AddTags: []string{escalatedTag}}},
		{"note on refund", `message.content contains "refund"`, domain.EventMessageCreated, domain.AutomationAction{Type: domain.AutomationAddNote, Content: "refund requested"}},
	} {
		events, actions := []string{a.event}, []domain.AutomationAction{a.action}
		in := domain.AutomationInput{Name: &a.name, Events: &events, Condition: &a.cond, Actions: &actions}
		if err := in.CheckStatic(true); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.CreateAutomation(context.Background(), tenant, in); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.app.Listener(ln) }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var running sync.WaitGroup
	for range workers {
		engine := &automations.Engine{Store: e.store, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
		running.Go(func() { engine.Run(ctx) })
	}
	go func() { running.Wait(); close(done) }()
	le := &loadEnv{testEnv: e, tenant: tenant, key: key, base: "http://" + ln.Addr().String() + "/api/v1/public",
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}}
	le.stop = func() {
		cancel()
		<-done
		_ = e.app.Shutdown()
	}
	t.Cleanup(le.stop)
	return le
}

// call sends one request and fails unless it gets want; it decodes the answer into out
// when out is not nil.
func (le *loadEnv) call(method, path string, body []byte, want int, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hreq, _ := http.NewRequest(method, le.base+path, rd)
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	hreq.Header.Set("X-Api-Key", le.key)
	resp, err := le.client.Do(hreq)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, b)
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

var benchTicketBody, _ = json.Marshal(map[string]any{
	"subject": "Where is my order?", "priority": "normal", "channel": "email",
	"contact": map[string]any{"name": "Ada", "email": "ada@example.com"}, "tags": []string{"returns"},
	"initial_message": map[string]any{"role": "user", "content": "It has not arrived yet."},
})

func (le *loadEnv) createTicket() (string, error) {
	var out ticketJSON
	err := le.call("POST", "/tickets", benchTicketBody, http.StatusCreated, &out)
	return out.Ticket.Summary.TicketID, err
}

// benchWrites: ticket creates, PATCHes and message adds per second through the HTTP API
// with the outbox worker running, next to the same calls made directly through the bun
// store, and creates next to pgbench writing the same rows in the same statement
// (PGBENCH_CREATES, measured by scripts/pgbench.sh just before).
func benchWrites(t *testing.T) {
	const n, clients = 3000, 16
	le := newLoadEnv(t, clients, 1)
	ctx := context.Background()
	in := domain.TicketCreate{
		Subject: "Where is my order?", Priority: "normal", Channel: "email",
		Contact: &domain.Contact{Name: "Ada", Email: "ada@example.com"}, Tags: []string{"returns"},
		InitialMessage: &domain.MessageCreate{Role: "user", Content: "It has not arrived yet."},
	}
	if err := in.Normalize(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	var mu sync.Mutex
	directCreate := rate(t, n, clients, func() error {
		d, err := le.store.CreateTicket(ctx, le.tenant, in)
		if err == nil {
			mu.Lock()
			ids = append(ids, d.Ticket.ID)
			mu.Unlock()
		}
		return err
	})
	apiCreate := rate(t, n, clients, func() error { _, err := le.createTicket(); return err })
	var seq atomic.Int64
	pick := func() (string, int64) { i := seq.Add(1); return ids[int(i)%len(ids)], i }
	directPatch := rate(t, n, clients, func() error {
		id, i := pick()
		subject := fmt.Sprintf("Where is my order? (%d)", i)
		_, err := le.store.UpdateTicket(ctx, le.tenant, id, domain.TicketUpdate{Subject: &subject})
		return err
	})
	apiPatch := rate(t, n, clients, func() error {
		id, i := pick()
		body, _ := json.Marshal(map[string]any{"subject": fmt.Sprintf("Where is my order? (%d)", i)})
		return le.call("PATCH", "/tickets/"+id, body, http.StatusOK, nil)
	})
	directMessage := rate(t, n, clients, func() error {
		id, _ := pick()
		_, _, err := le.store.AddMessage(ctx, le.tenant, id, domain.MessageCreate{Role: "user", Content: "Any news?", Channel: "email"})
		return err
	})
	messageBody, _ := json.Marshal(map[string]any{"role": "user", "content": "Any news?"})
	apiMessage := rate(t, n, clients, func() error {
		id, _ := pick()
		return le.call("POST", "/tickets/"+id+"/messages", messageBody, http.StatusCreated, nil)
	})

	pg, _ := strconv.ParseFloat(os.Getenv("PGBENCH_CREATES"), 64)
	pgCell, ratio := "(run make bench)", "-"
	if pg > 0 {
		pgCell, ratio = fmt.Sprintf("%.0f", pg), fmt.Sprintf("%.2fx", apiCreate/pg)
	}
	fmt.Printf("\nWrites: %d calls of each kind from %d clients, the outbox worker running in the same process\n\n", n, clients)
	fmt.Println("| writes/s | HTTP API | direct through bun | pgbench, same rows, one statement | API / pgbench | aim |")
	fmt.Println("|---|---|---|---|---|---|")
	fmt.Printf("| ticket create (ticket, message, event) | %.0f | %.0f | %s | %s | >= 0.6x |\n", apiCreate, directCreate, pgCell, ratio)
	fmt.Printf("| PATCH (ticket, event) | %.0f | %.0f | | | |\n", apiPatch, directPatch)
	fmt.Printf("| message add (message, ticket, event) | %.0f | %.0f | | | |\n", apiMessage, directMessage)
	fmt.Println()
}

// benchSustained: clients create tickets as fast as the API takes them for
// SUSTAIN_SECONDS (60 by default) with one outbox worker running, then with two; the
// backlog left at the end, in seconds of production, says whether consumption keeps up.
// Then, under a paced load of half that rate, PATCHes that make a ticket urgent are timed
// until the rule's set_fields tag is visible through the API.
func benchSustained(t *testing.T) {
	const clients = 16
	seconds := 60
	if s, err := strconv.Atoi(os.Getenv("SUSTAIN_SECONDS")); err == nil && s > 0 {
		seconds = s
	}
	for _, workers := range []int{1, 2} {
		sustain(t, clients, seconds, workers)
	}
}

func sustain(t *testing.T, clients, seconds, workers int) {
	le := newLoadEnv(t, clients, workers)
	defer le.stop()
	ctx := context.Background()

	var created atomic.Int64
	load := func(until time.Time, perSecond float64) {
		var wg sync.WaitGroup
		start := time.Now()
		var slot atomic.Int64
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(until) {
					if perSecond > 0 { // open loop: the i-th create is due at i/perSecond
						due := start.Add(time.Duration(float64(slot.Add(1)) / perSecond * float64(time.Second)))
						if d := time.Until(due); d > 0 {
							time.Sleep(d)
						}
					}
					if _, err := le.createTicket(); err != nil {
						t.Error(err)
						return
					}
					created.Add(1)
				}
			}()
		}
		wg.Wait()
	}
	start := time.Now()
	load(start.Add(time.Duration(seconds)*time.Second), 0)
	elapsed := time.Since(start)
	backlog, err := le.store.PendingEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	produced := float64(created.Load()) / elapsed.Seconds()
	drainStart := time.Now()
	for n := backlog; n > 0; {
		time.Sleep(50 * time.Millisecond)
		if n, err = le.store.PendingEvents(ctx); err != nil {
			t.Fatal(err)
		}
	}
	drained := time.Since(drainStart)

	// Automation latency at half the sustained rate.
	until := time.Now().Add(20 * time.Second)
	paced := make(chan struct{})
	go func() { load(until, produced/2); close(paced) }()
	var lat []time.Duration
	urgent, _ := json.Marshal(map[string]any{"priority": "urgent"})
	for time.Now().Before(until.Add(-time.Second)) {
		id, err := le.createTicket()
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // its ticket.created event is evaluated first
		sent := time.Now()
		if err := le.call("PATCH", "/tickets/"+id, urgent, http.StatusOK, nil); err != nil {
			t.Fatal(err)
		}
		for {
			var tk ticketJSON
			if err := le.call("GET", "/tickets/"+id, nil, http.StatusOK, &tk); err != nil {
				t.Fatal(err)
			}
			if slices.Contains(tk.Ticket.Summary.Tags, escalatedTag) {
				lat = append(lat, time.Since(sent))
				break
			}
			if time.Since(sent) > 30*time.Second {
				t.Fatalf("the rule's tag did not appear on %s within 30 s", id)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	<-paced

	fmt.Printf("\nSustained load: %d clients creating tickets for %d s, %d outbox worker(s) running in the same process\n\n", clients, seconds, workers)
	fmt.Println("| measurement | value | aim |")
	fmt.Println("|---|---|---|")
	fmt.Printf("| creates/s sustained (each a ticket.created event, evaluated) | %.0f | |\n", produced)
	fmt.Printf("| backlog at the end | %d events = %.2f s of production | < 1 s |\n", backlog, float64(backlog)/produced)
	fmt.Printf("| time to drain it after the load stopped | %s | |\n", ms(drained))
	fmt.Printf("| automation latency p50, PATCH to set_fields visible, at %.0f creates/s | %s | |\n", produced/2, ms(percentile(lat, 50)))
	fmt.Printf("| automation latency p99 (%d samples) | %s | |\n", len(lat), ms(percentile(lat, 99)))
	fmt.Println()
}
