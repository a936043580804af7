// Command worker runs Threada's Temporal worker (the action workflows and activities), the
// relay that starts the workflows of actions the API accepted while Temporal was
// unreachable, and the automations engine that consumes the ticket event outbox.
// `worker echo-receiver` is a local receiver for trying actions out.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/threada/threada/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	config.TuneGC(os.Getenv)
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}
