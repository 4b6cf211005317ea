// Command jetsync-bridge carries changes of Redis keys to NATS JetStream.
// It is configured by JETSYNC_* environment variables (--help lists them;
// the README says what each one means); `jetsync-bridge check` checks the
// configuration and what it reaches; `jetsync-bridge library` prints the
// Redis function library for an administrator to load.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kelseyhightower/envconfig"

	"github.com/jetsync/jetsync/bridge"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/platform"
)

func main() {
	var cfg bridge.Config
	mode, _ := platform.Command("jetsync-bridge", "carries changes of Redis keys to NATS JetStream", &cfg, os.Args[1:],
		platform.Subcommand{Name: "library", Summary: "print the jetsync Redis function library, for FUNCTION LOAD REPLACE by an administrator"})
	if mode == platform.Sub {
		fmt.Print(bridge.Library())
		return
	}
	if err := envconfig.Process("jetsync", &cfg); err != nil {
		handlers.Exit(err)
	}
	log := platform.NewLogger(cfg.LogConfig, nil).With("component", "bridge")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if mode == platform.Check {
		if err := bridge.Check(ctx, cfg, os.Stdout, log); err != nil {
			log.Error("check failed", "err", err)
			os.Exit(1)
		}
		return
	}
	b, err := bridge.New(ctx, cfg, log)
	if err == nil {
		err = b.Run(ctx)
	}
	if err != nil {
		log.Error("bridge stopped", "err", err)
		os.Exit(1)
	}
}
