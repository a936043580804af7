package main

import (
	"context"
	"io"

	"github.com/threada/threada/internal/cli"
	"github.com/threada/threada/internal/domain"
)

// errUsage marks errors in how the command was called; main exits 2 for them.
var errUsage = cli.ErrUsage

// run is the whole program (internal/cli), serving with this binary's server.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return cli.Run(ctx, args, getenv, stdout, stderr, cli.Binary{Serve: serve, KeyView: func(k *domain.APIKey) any { return keyViewOf(k) }})
}
