package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/threada/threada/internal/actions"
	"github.com/threada/threada/internal/config"
	"github.com/threada/threada/internal/store"
)

// serve runs the HTTP API until ctx ends, then drains in-flight requests.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	log.Info("starting", "config", cfg)
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	tc, err := actions.Dial(cfg.TemporalAddress, cfg.TemporalNamespace, log)
	if err != nil {
		return err
	}
	defer tc.Close()
	srv, err := newServer(st, actions.NewRunner(tc, st, log, cfg), log, cfg)
	if err != nil {
		return err
	}
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
