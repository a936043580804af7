package store_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threada/threada/internal/dbtest"
)

// TestListenReconnects: Listen delivers notifications; when its connection is killed it
// says notifications may have been lost, opens a new one, and delivers again.
func TestListenReconnects(t *testing.T) {
	s := dbtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 10)
	var lost atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Listen(ctx, "listen_test", slog.New(slog.DiscardHandler), func(p string) { got <- p }, func() { lost.Add(1) })
	}()
	notify := func(payload string) string {
		t.Helper()
		// Until one is delivered: the LISTEN may not be in place yet.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			if _, err := s.DB().ExecContext(ctx, "SELECT pg_notify('listen_test', ?)", payload); err != nil {
				t.Fatal(err)
			}
			select {
			case p := <-got:
				return p
			case <-time.After(100 * time.Millisecond):
			}
		}
		t.Fatalf("%q was never delivered", payload)
		return ""
	}
	if p := notify("one"); p != "one" {
		t.Fatalf("got %q", p)
	}
	before := lost.Load()
	if before < 1 {
		t.Errorf("the first LISTEN did not call lost (%d)", before)
	}
	if _, err := s.DB().ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	for p := notify("two"); p != "two"; p = notify("two") {
	}
	if lost.Load() < before+2 { // the drop, and the LISTEN in place again
		t.Errorf("lost called %d times in all, want at least %d", lost.Load(), before+2)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Listen did not return when its context ended")
	}
}
