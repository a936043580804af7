package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/threada/threada/activities"
	"github.com/threada/threada/internal/automations"
	"github.com/threada/threada/internal/config"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/httpguard"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/workflows"
)

const usage = `Usage:
  worker                                run the Temporal worker and the action relay
  worker echo-receiver [--addr 127.0.0.1:9080] [--fail-first N]
                                        a local receiver that prints what it gets
  worker healthcheck                    exit 0 when the worker on METRICS_ADDR is ready

Environment: DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, SECRETS_KEY,
ACTIONS_EGRESS_ALLOW_CIDRS, LOG_LEVEL, SHUTDOWN_TIMEOUT, METRICS_ADDR, OTEL_*; WEBHOOK_SECRET (echo-receiver).`

// relayEvery is how often the relay looks for actions whose workflow is not started, and
// relayMinAge how old such an action must be, so the API's own start goes first.
const (
	relayEvery  = time.Second
	relayMinAge = 3 * time.Second
)

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "echo-receiver":
			return echoReceiver(ctx, args[1:], getenv, stdout)
		case "healthcheck":
			return healthcheck(ctx, getenv)
		case "help", "-h", "--help":
			fmt.Fprintln(stdout, usage)
			return nil
		default:
			return fmt.Errorf("unknown command %q\n\n%s", args[0], usage)
		}
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	log.Info("starting", "config", cfg)
	box, err := cfg.Box()
	if err != nil {
		return err
	}
	guard, err := httpguard.New(cfg.EgressAllowCIDRs)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	tel, stopTelemetry, err := startTelemetry(ctx, cfg, getenv, st, log)
	if err != nil {
		return err
	}
	defer stopTelemetry()
	tc, err := client.NewLazyClient(tel.ClientOptions(client.Options{
		HostPort:     cfg.TemporalAddress,
		Namespace:    cfg.TemporalNamespace,
		Logger:       tlog.NewStructuredLogger(log.With("component", "temporal")),
		Interceptors: []interceptor.ClientInterceptor{&workflows.EagerStart{}},
	}))
	if err != nil {
		return fmt.Errorf("configuring the Temporal client: %w", err)
	}
	defer tc.Close()

	w := worker.New(tc, cfg.TaskQueue, workflows.WorkerOptions(cfg.ShutdownTimeout))
	workflows.Register(w, &activities.Activities{Store: st, HTTP: tel.HTTPClient(guard.Client()), Secrets: box, HostConcurrency: cfg.HostConcurrency, Metrics: tel.Metered(),
		StartAction: func(ctx context.Context, a *domain.Action) error {
			return workflows.StartAndMark(ctx, tc, st, cfg.TaskQueue, a)
		}})
	if err := w.Start(); err != nil {
		return fmt.Errorf("starting the worker (is Temporal at %s?): %w", cfg.TemporalAddress, err)
	}
	log.Info("worker started", "task_queue", cfg.TaskQueue, "temporal", cfg.TemporalAddress)

	engine := &automations.Engine{
		Store: st, Log: log, MaxDepth: cfg.AutomationMaxDepth, Metrics: tel.Metered(),
		Start: func(ctx context.Context, a *domain.Action) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := workflows.StartAndMark(ctx, tc, st, cfg.TaskQueue, a); err != nil {
				log.Warn("automation action not started yet; the relay will start it", "action_id", a.ID, "err", err)
			}
		},
	}
	loopsCtx, stopLoops := context.WithCancel(ctx)
	var loops sync.WaitGroup
	loops.Go(func() { relay(loopsCtx, st, tc, cfg.TaskQueue, log) })
	loops.Go(func() { engine.Run(loopsCtx) })

	<-ctx.Done()
	log.Info("shutting down: finishing running activities", "timeout", cfg.ShutdownTimeout.String())
	stopLoops()
	loops.Wait()
	w.Stop()
	log.Info("stopped")
	return nil
}

// relay starts the workflows of queued actions the API could not start: accepted while
// Temporal was unreachable, or left by an API process that died between commit and start.
// Several workers may relay at once; rows are claimed with SKIP LOCKED.
func relay(ctx context.Context, st *store.Store, tc client.Client, taskQueue string, log *slog.Logger) {
	t := time.NewTicker(relayEvery)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := st.StartUnstarted(ctx, relayMinAge, 100, func(ctx context.Context, a *domain.Action) error {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			return workflows.StartAction(ctx, tc, taskQueue, a)
		})
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				log.Warn("relay cannot start queued actions yet", "err", err)
			}
			failing = true
		case n > 0:
			log.Info("relay started queued actions", "count", n)
			failing = false
		default:
			failing = false
		}
	}
}
