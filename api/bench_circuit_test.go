package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/threada/threada/internal/domain"
)

// benchCircuit: a receiver fails until its circuit opens; 1,000 actions for it then wait
// without attempts; when it recovers, the next probe (within one probe interval) closes the
// circuit and every action completes, each in one attempt.
func benchCircuit(t *testing.T) {
	const waiting, clients = 1000, 16
	e, _ := newActionEnv(t)
	var down atomic.Bool
	down.Store(true)
	var calls atomic.Int64
	var firstOK atomic.Int64 // unix nanos of the first 2xx
	rc := newReceiver(t, func(_ int, w http.ResponseWriter) {
		calls.Add(1)
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		firstOK.CompareAndSwap(0, time.Now().UnixNano())
		w.WriteHeader(http.StatusOK)
	})
	f := e.actionFixture(rc.URL)
	one := referenceAction()
	one["payload"].(map[string]any)["max_attempts"] = 1
	for range domain.CircuitFailures {
		e.postAction(f, one, map[string]string{"Prefer": "wait=20"})
	}
	body := referenceAction()
	body["payload"].(map[string]any)["max_attempts"] = 3
	ids := make([]string, 0, waiting)
	var mu sync.Mutex
	rate(t, waiting, clients, func() error {
		resp := e.postAction(f, body, nil)
		if resp.Status != http.StatusCreated {
			return fmt.Errorf("status %d", resp.Status)
		}
		mu.Lock()
		ids = append(ids, decodeAction(t, resp).ActionID)
		mu.Unlock()
		return nil
	})
	before := calls.Load()
	time.Sleep(10 * time.Second) // the actions reach their first attempt and wait
	ctx := context.Background()
	attempts := func() int {
		n, err := e.store.DB().NewSelect().Table("action_attempts").Where("tenant_id = ? AND action_id IN (?)", f.tenant, bun.In(ids)).Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return int(n)
	}
	whileOpen, callsOpen := attempts(), calls.Load()-before

	recovered := time.Now()
	down.Store(false)
	deadline := recovered.Add(3 * time.Minute)
	var done int
	for time.Now().Before(deadline) {
		n, err := e.store.DB().NewSelect().Table("actions").Where("id IN (?) AND status = ?", bun.In(ids), domain.ActionSucceeded).Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if done = int(n); done == waiting {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	allDone := time.Since(recovered)
	probe := time.Duration(0)
	if ns := firstOK.Load(); ns > 0 {
		probe = time.Unix(0, ns).Sub(recovered)
	}
	total := attempts()

	fmt.Printf("\nCircuit breaker: %d actions for a receiver whose circuit is open (probe every %s), then it recovers\n\n", waiting, domain.CircuitProbeInterval)
	fmt.Println("| measurement | value | aim |")
	fmt.Println("|---|---|---|")
	fmt.Printf("| attempts recorded while open (10 s after the %d were accepted) | %d (receiver calls: %d) | 0 |\n", waiting, whileOpen, callsOpen)
	fmt.Printf("| receiver back to first success (the probe) | %s | within %s |\n", probe.Round(time.Millisecond), domain.CircuitProbeInterval)
	fmt.Printf("| receiver back to all %d succeeded | %s (%d succeeded) | |\n", waiting, allDone.Round(time.Millisecond), done)
	fmt.Printf("| attempts for the %d | %d | %d (one each) |\n", waiting, total, waiting)
	fmt.Println()
}
