// Package gateway is how Threada's processes talk to Temporal, whatever they run on it
// (internal/actions, internal/timers): the client (Dial), the availability gate that keeps
// requests from waiting on a Temporal that is down (Gate), and the relay loop that starts
// later what could not start then (RelayLoop).
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"

	"github.com/threada/threada/internal/sealing"
	"github.com/threada/threada/internal/telemetry"
)

// CallTimeout bounds one call to Temporal: a start, a signal, a describe, a cancel.
const CallTimeout = 3 * time.Second

// ErrUnreachable is a start's error while Temporal is known to be unreachable: the work
// stays in PostgreSQL for the relay.
var ErrUnreachable = errors.New("the workflow service is unreachable; the relay starts the action later")

// Dial returns a lazy Temporal client: no connection is made until the first call. tel
// adds the SDK's metrics and tracing when they are on (nil: none); keys seals the payloads
// the client and its workers exchange with Temporal (nil: they go in the clear, as for a
// process without SECRETS_KEY).
func Dial(hostPort, namespace string, log *slog.Logger, tel *telemetry.Telemetry, keys *sealing.Keyring, interceptors ...interceptor.ClientInterceptor) (client.Client, error) {
	c, err := client.NewLazyClient(tel.ClientOptions(keys.ClientOptions(client.Options{
		HostPort:     hostPort,
		Namespace:    namespace,
		Logger:       tlog.NewStructuredLogger(log.With("component", "temporal-client")),
		Interceptors: interceptors,
	})))
	if err != nil {
		return nil, fmt.Errorf("configuring the Temporal client: %w", err)
	}
	return c, nil
}

// unreachableBackoff is how long a Gate stops trying Temporal after a call failed to reach
// it: while Temporal is down, requests answer from PostgreSQL at once instead of each
// waiting out a connection attempt, and starts are left to the relay.
const unreachableBackoff = 5 * time.Second

// Gate says whether Temporal answered lately. One per process, shared by what it runs.
type Gate struct {
	log       *slog.Logger
	downUntil atomic.Int64 // unix nanos; Temporal is not tried before then, but by the relays
}

// NewGate returns a Gate that logs, once per outage, that Temporal is unreachable.
func NewGate(log *slog.Logger) *Gate { return &Gate{log: log} }

// Available says whether Temporal answered lately: false for a few seconds after a call
// failed to reach it, during which calls that can wait for a relay are not tried.
func (g *Gate) Available() bool { return time.Now().UnixNano() >= g.downUntil.Load() }

// Observe notes whether a call to Temporal reached it (see Available).
func (g *Gate) Observe(err error) {
	if err == nil || IsAnswer(err) {
		g.downUntil.Store(0)
		return
	}
	if g.Available() {
		g.log.Warn("Temporal unreachable; work waits in PostgreSQL for the worker's relays", "err", err)
	}
	g.downUntil.Store(time.Now().Add(unreachableBackoff).UnixNano())
}

// IsAnswer tells answers from Temporal (not found, already started, ...) from failures to
// reach it.
func IsAnswer(err error) bool {
	var nf *serviceerror.NotFound
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	var failedPre *serviceerror.FailedPrecondition
	var invalid *serviceerror.InvalidArgument
	return errors.As(err, &nf) || errors.As(err, &started) || errors.As(err, &failedPre) || errors.As(err, &invalid)
}

// The relays look for work Temporal does not have yet every RelayEvery, among what is at
// least RelayMinAge old, so the creating process's own start goes first.
const (
	RelayEvery  = time.Second
	RelayMinAge = 3 * time.Second
)

// RelayLoop runs once every RelayEvery until ctx ends, logging what it did: one warning
// when it starts failing (not one a second while Temporal is down), and each round that
// did something. what names the work ("start queued actions").
func RelayLoop(ctx context.Context, log *slog.Logger, what string, once func(context.Context) (int, error)) {
	t := time.NewTicker(RelayEvery)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := once(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				log.Warn("relay cannot "+what+" yet", "err", err)
			}
			failing = true
		case n > 0:
			log.Info("relay: "+what, "count", n)
			failing = false
		default:
			failing = false
		}
	}
}
