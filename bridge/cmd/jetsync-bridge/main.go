// Command jetsync-bridge carries changes of Redis keys to NATS JetStream.
// It is configured by JETSYNC_* environment variables; see the README.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kelseyhightower/envconfig"

	"github.com/jetsync/jetsync/bridge"
	"github.com/jetsync/jetsync/infra/platform"
)

func main() {
	var cfg bridge.Config
	if err := envconfig.Process("jetsync", &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "jetsync-bridge: configuration:", err)
		os.Exit(2)
	}
	log := platform.NewLogger(cfg.LogConfig, nil).With("component", "bridge")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := bridge.New(ctx, cfg, log)
	if err == nil {
		err = b.Run(ctx)
	}
	if err != nil {
		log.Error("bridge stopped", "err", err)
		os.Exit(1)
	}
}
