// Command jetsync-table is the generic table function: it writes the hashes
// of one key prefix into one table, mapping hash fields to columns, with no
// code. Everything is configured by JETSYNC_* variables (--help lists
// them; the README says what each one means); `jetsync-table check` checks
// the configuration, the table and NATS.
package main

import (
	"context"
	"os"

	"github.com/kelseyhightower/envconfig"

	"github.com/jetsync/jetsync/functions/table"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/platform"
)

func main() {
	var cfg table.Config
	mode := platform.Command("jetsync-table", "writes the hashes of one key prefix into one table", &cfg, os.Args[1:])
	if err := envconfig.Process("jetsync", &cfg); err != nil {
		handlers.Exit(err)
	}
	if mode == platform.Check {
		if err := table.Check(context.Background(), cfg, os.Stdout, platform.NewLogger(cfg.LogConfig, nil)); err != nil {
			os.Exit(1)
		}
		return
	}
	fn, open, err := table.Build(cfg)
	if err != nil {
		handlers.Exit(err)
	}
	handlers.Serve(cfg.Config, fn, open)
}
