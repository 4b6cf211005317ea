// Command jetsync-table is the generic table function: it writes the hashes
// of one key prefix into one table, mapping hash fields to columns, with no
// code. Everything is configured by JETSYNC_* variables; see the README.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kelseyhightower/envconfig"

	"github.com/jetsync/jetsync/infra/platform"
)

func main() {
	var cfg Config
	if err := envconfig.Process("jetsync", &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "jetsync-table: configuration:", err)
		os.Exit(2)
	}
	log := platform.NewLogger(cfg.LogConfig, nil).With("component", "table")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("function stopped", "function", cfg.Name, "err", err)
		os.Exit(1)
	}
}
