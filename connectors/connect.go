package connectors

import (
	"context"
	"log/slog"
	"time"

	"github.com/jetsync/jetsync/infra/platform"
)

// Connect calls try until it succeeds. While try fails it logs each failure
// and waits with capped backoff (200 ms → 5 s); it returns try's error at
// once when stop says no retry fixes it (bad credentials, an unknown
// database, no privilege), and the last error when ctx ends. Every
// connector's Open runs its first connection through it, so a target that
// is not up yet delays a function instead of failing it.
func Connect(ctx context.Context, log *slog.Logger, try func(context.Context) error, stop func(error) bool) error {
	backoff := platform.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	for {
		err := try(ctx)
		if err == nil || stop(err) || ctx.Err() != nil {
			return err
		}
		log.Warn("database not reachable yet; retrying", "err", err)
		if !backoff.Wait(ctx) {
			return err
		}
	}
}
