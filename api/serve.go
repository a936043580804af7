package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/threada/threada/internal/actions"
	"github.com/threada/threada/internal/config"
	"github.com/threada/threada/internal/gateway"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/internal/telemetry"
)

// serve runs the HTTP API until ctx ends, then drains in-flight requests.
func serve(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger) error {
	log.Info("starting", "config", cfg)
	tel, err := telemetry.Start(ctx, getenv, telemetry.Options{Process: telemetry.ProcessAPI, Service: "threada-api", MetricsAddr: cfg.MetricsAddr}, log)
	if err != nil {
		return err
	}
	defer closeTelemetry(tel, log)
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: cfg.DatabaseMaxConns, ApplicationName: "threada-api"})
	if err != nil {
		return err
	}
	defer st.Close()
	st.TraceQueries(tel.TracerProvider())
	st.ObservePool(tel.Metered().ObserveDB)
	keys, err := keyring(cfg, st, log)
	if err != nil {
		return err
	}
	tc, err := gateway.Dial(cfg.TemporalAddress, cfg.TemporalNamespace, log, tel, keys)
	if err != nil {
		return err
	}
	defer tc.Close()
	srv, err := newServer(st, actions.NewRunner(tc, st, log, cfg), log, cfg, tel)
	if err != nil {
		return err
	}
	srv.keys = keys
	app := srv.app()
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listening on HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	log.Info("listening", "addr", ln.Addr().String())

	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	go srv.background(sweepCtx)

	errc := make(chan error, 1)
	go func() { errc <- app.Listener(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := app.ShutdownWithContext(shutdownCtx); err != nil {
		return fmt.Errorf("draining requests: %w", err)
	}
	log.Info("stopped")
	return nil
}

// closeTelemetry stops the metrics server and flushes the spans not yet exported, for at
// most a few seconds.
func closeTelemetry(tel *telemetry.Telemetry, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tel.Close(ctx); err != nil {
		log.Warn("closing telemetry", "err", err)
	}
}
