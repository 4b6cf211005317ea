// Command jetsync is the operator's tool: jetsync status, jetsync replay,
// jetsync dlq list|show|requeue|purge, jetsync probe, jetsync version.
// NATS settings come from JETSYNC_NATS_* (or --nats-url, --nats-creds) and
// the stream from JETSYNC_STREAM (or --stream); jetsync --help lists the
// commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kelseyhightower/envconfig"

	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/cli"
)

func main() {
	var cfg cli.Config
	if err := envconfig.Process("jetsync", &cfg); err != nil {
		handlers.Exit(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, cfg, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
