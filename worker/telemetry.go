package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/threada/threada/internal/config"
	"github.com/threada/threada/internal/contract"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/internal/telemetry"
)

// healthTimeout bounds each dependency's check in /readyz.
const healthTimeout = 2 * time.Second

// startTelemetry sets up the worker's metrics and traces (see internal/telemetry): traces
// of its store queries, its connection pool, the outbox backlog and circuits read at
// scrape time, and /livez and /readyz beside /metrics on METRICS_ADDR. The returned
// function stops it all and flushes the spans not yet exported.
func startTelemetry(ctx context.Context, cfg config.Config, getenv func(string) string, st *store.Store, log *slog.Logger) (*telemetry.Telemetry, func(), error) {
	// Readiness asks Temporal through a client of its own, which exists before the
	// worker's and outlives any of its states.
	probe, err := client.NewLazyClient(client.Options{HostPort: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace,
		Logger: tlog.NewStructuredLogger(slog.New(slog.NewJSONHandler(io.Discard, nil)))})
	if err != nil {
		return nil, nil, fmt.Errorf("configuring the Temporal client: %w", err)
	}
	tel, err := telemetry.Start(ctx, getenv, telemetry.Options{
		Process: telemetry.ProcessWorker, Service: "threada-worker", MetricsAddr: cfg.MetricsAddr, ExpectedActivityErrors: contract.ExpectedErrorTypes,
		Handlers: map[string]http.Handler{
			"GET /livez":  http.HandlerFunc(livez),
			"GET /readyz": readyz(st, probe, log),
		},
	}, log)
	if err != nil {
		probe.Close()
		return nil, nil, err
	}
	st.TraceQueries(tel.TracerProvider())
	st.ObservePool(tel.Metered().ObserveDB)
	tel.Metered().ObserveStore(st.Gauges, log)
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Close(ctx); err != nil {
			log.Warn("closing telemetry", "err", err)
		}
		probe.Close()
	}
	return tel, stop, nil
}

// livez answers while the process serves its metrics.
func livez(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
}

// readyz answers 200 while both PostgreSQL and Temporal answer, which the worker needs to
// do anything; 503 otherwise, naming which one is missing.
func readyz(st *store.Store, tc client.Client, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		check := func(f func(context.Context) error) string {
			ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
			defer cancel()
			if err := f(ctx); err != nil {
				log.Warn("not ready", "err", err)
				return "unreachable"
			}
			return "ok"
		}
		checks := map[string]string{
			"postgres": check(st.Ping),
			"temporal": check(func(ctx context.Context) error {
				_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
				return err
			}),
		}
		if checks["postgres"] != "ok" || checks["temporal"] != "ok" {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not_ready", "checks": checks})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": checks})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// healthcheck asks the worker on METRICS_ADDR whether it is ready (container health
// checks; the image has no curl). It needs METRICS_ADDR, where the worker serves /readyz.
func healthcheck(ctx context.Context, getenv func(string) string) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if cfg.MetricsAddr == "" {
		return fmt.Errorf("METRICS_ADDR is not set: the worker serves /readyz there")
	}
	host, port, _ := net.SplitHostPort(cfg.MetricsAddr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("worker not reachable: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("worker not ready: %s %s", resp.Status, body)
	}
	return nil
}
