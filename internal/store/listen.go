package store

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
)

// listenRetry is how long Listen waits before it opens a dropped connection again.
const listenRetry = time.Second

// listenIdle is how long Listen waits for a notification before it checks the connection.
const listenIdle = 30 * time.Second

// Listen delivers each notification's payload on channel to notified until ctx ends, on a
// connection of its own. It calls lost whenever notifications may have been missed: when
// the connection could not be opened, when it dropped, and once the LISTEN is in place
// again (what was sent meanwhile is gone). So a cache clears itself in lost, and a
// consumer looks for work in it. A dropped connection is reopened every listenRetry until
// ctx ends; the first LISTEN calls lost too, which costs nothing at start.
func (s *Store) Listen(ctx context.Context, channel string, log *slog.Logger, notified func(payload string), lost func()) {
	for ctx.Err() == nil {
		ln := pgdriver.NewListener(s.db)
		if err := ln.Listen(ctx, channel); err != nil {
			_ = ln.Close()
			if ctx.Err() == nil {
				log.Warn("LISTEN failed; retrying", "channel", channel, "err", err)
			}
			lost()
			sleepCtx(ctx, listenRetry)
			continue
		}
		lost()
		// A receive waits up to listenIdle whatever ctx says: closing the connection is
		// what ends it when ctx does.
		stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
		for ctx.Err() == nil {
			_, payload, err := ln.ReceiveTimeout(ctx, listenIdle)
			if err != nil {
				if isTimeout(err) {
					continue
				}
				if ctx.Err() == nil {
					log.Warn("LISTEN connection lost; reconnecting", "channel", channel, "err", err)
				}
				break
			}
			notified(payload)
		}
		stop()
		_ = ln.Close()
		lost()
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
