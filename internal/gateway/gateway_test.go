package gateway

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/api/serviceerror"
)

// TestGate: a call that did not reach Temporal closes the gate for a while (logged once per
// outage); an answer, even a refusal (not found, already started), opens it at once.
func TestGate(t *testing.T) {
	var logs bytes.Buffer
	g := NewGate(slog.New(slog.NewTextHandler(&logs, nil)))
	if !g.Available() {
		t.Fatal("a new gate is closed")
	}
	for range 3 {
		g.Observe(errors.New("connection refused"))
	}
	if g.Available() || strings.Count(logs.String(), "Temporal unreachable") != 1 {
		t.Fatalf("after failures: available %v, log %q", g.Available(), logs.String())
	}
	g.Observe(serviceerror.NewNotFound("no such workflow"))
	if !g.Available() {
		t.Error("an answer from Temporal did not open the gate")
	}
}

// TestRelayLoop: the loop runs once every RelayEvery until ctx ends, and warns once when
// it starts failing, not on every round of an outage.
func TestRelayLoop(t *testing.T) {
	var mu sync.Mutex
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	ctx, cancel := context.WithTimeout(context.Background(), 3*RelayEvery+RelayEvery/2)
	defer cancel()
	rounds := 0
	RelayLoop(ctx, log, "test", func(context.Context) (int, error) {
		rounds++
		return 0, errors.New("unreachable")
	})
	mu.Lock()
	defer mu.Unlock()
	if rounds < 2 || rounds > 3 || // one a second (a loaded machine may lose the last tick)
		strings.Count(logs.String(), "relay cannot test yet") != 1 {
		t.Errorf("%d rounds, log %q", rounds, logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
