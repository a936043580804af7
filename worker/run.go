package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"go.temporal.io/sdk/worker"

	"github.com/threada/threada/activities"
	"github.com/threada/threada/internal/actions"
	"github.com/threada/threada/internal/automations"
	"github.com/threada/threada/internal/config"
	"github.com/threada/threada/internal/domain"
	"github.com/threada/threada/internal/gateway"
	"github.com/threada/threada/internal/httpguard"
	"github.com/threada/threada/internal/retention"
	"github.com/threada/threada/internal/sealing"
	"github.com/threada/threada/internal/store"
	"github.com/threada/threada/internal/telemetry"
	"github.com/threada/threada/internal/timers"
	"github.com/threada/threada/workflows"
)

const usage = `Usage:
  worker                                run the Temporal worker and the action relay
  worker echo-receiver [--addr 127.0.0.1:9080] [--fail-first N]
                                        a local receiver that prints what it gets
  worker healthcheck                    exit 0 when the worker on METRICS_ADDR is ready

Environment: DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, SECRETS_KEY,
ACTIONS_EGRESS_ALLOW_CIDRS, LOG_LEVEL, SHUTDOWN_TIMEOUT, METRICS_ADDR, OTEL_*; WEBHOOK_SECRET (echo-receiver).`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return command(ctx, args, getenv, stdout)
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
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: cfg.DatabaseMaxConns, ApplicationName: "threada-worker"})
	if err != nil {
		return err
	}
	defer st.Close()
	tel, stopTelemetry, err := startTelemetry(ctx, cfg, getenv, st, log)
	if err != nil {
		return err
	}
	defer stopTelemetry()
	keys, err := sealing.NewKeyring(st, box)
	if err != nil {
		return err
	}
	tc, err := gateway.Dial(cfg.TemporalAddress, cfg.TemporalNamespace, log, tel, keys, &workflows.EagerStart{})
	if err != nil {
		return err
	}
	defer tc.Close()
	runner := actions.NewRunner(tc, st, log, cfg)
	timerRunner := timers.NewRunner(tc, st, runner, log, cfg.TemporalNamespace, cfg.TaskQueue)

	workflows.DisableStickyExecution()
	w := worker.New(tc, cfg.TaskQueue, workflows.WorkerOptions(cfg.ShutdownTimeout))
	workflows.Register(w, &activities.Activities{Store: st, HTTP: tel.HTTPClient(guard.Client()), Secrets: box, HostConcurrency: cfg.HostConcurrency, Metrics: tel.Metered(),
		StartAction: runner.Start, Wake: runner.Wake})
	if err := w.Start(); err != nil {
		return fmt.Errorf("starting the worker (is Temporal at %s?): %w", cfg.TemporalAddress, err)
	}
	log.Info("worker started", "task_queue", cfg.TaskQueue, "temporal", cfg.TemporalAddress)

	loopsCtx, stopLoops := context.WithCancel(ctx)
	loops := startLoops(loopsCtx, cfg, st, runner, timerRunner, tel, log)
	<-ctx.Done()
	log.Info("shutting down: finishing running activities", "timeout", cfg.ShutdownTimeout.String())
	stopLoops()
	loops.Wait()
	w.Stop()
	log.Info("stopped")
	return nil
}

// startLoops starts the worker's background loops until ctx ends: the actions' and the
// timers' relays, the automations engine (the outbox) and its clock repair, and the
// retention keeper with its erasures. Wait on what it returns for them to end.
func startLoops(ctx context.Context, cfg config.Config, st *store.Store, runner *actions.Runner, timerRunner *timers.Runner,
	tel *telemetry.Telemetry, log *slog.Logger) *sync.WaitGroup {
	engine := &automations.Engine{
		Store: st, Log: log, MaxDepth: cfg.AutomationMaxDepth, Metrics: tel.Metered(),
		Start:  func(ctx context.Context, a *domain.Action) { _ = runner.Start(ctx, a) },
		Arm:    timerRunner.Arm,
		Disarm: timerRunner.Disarm,
	}
	var loops sync.WaitGroup
	loops.Go(func() { runner.Relay(ctx) })
	loops.Go(func() { timerRunner.Run(ctx) })
	loops.Go(func() { engine.Run(ctx) })
	loops.Go(func() { engine.RepairClocks(ctx) })
	keeper := &retention.Keeper{Store: st, Log: log, Disarm: timerRunner.Disarm,
		Cancel: func(ctx context.Context, id string) {
			if err := runner.Cancel(ctx, &domain.Action{ID: id}); err != nil {
				log.Warn("retention: canceling a deleted ticket's action; its run ends at its next attempt", "action_id", id, "err", err)
			}
		}}
	loops.Go(func() { keeper.Run(ctx) })
	loops.Go(func() { keeper.RunErasures(ctx) })

	return &loops
}

// command runs one of the worker binary's other commands.
func command(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	switch args[0] {
	case "echo-receiver":
		return echoReceiver(ctx, args[1:], getenv, stdout)
	case "healthcheck":
		return healthcheck(ctx, getenv)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n\n%s", args[0], usage)
}
