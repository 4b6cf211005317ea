// Command jetsync-table is the generic table function: it writes the hashes
// of one key prefix into one table, mapping hash fields to columns, with no
// code. Everything is configured by JETSYNC_* variables (--help lists
// them; the README says what each one means); `jetsync-table check` checks
// the configuration, the table and NATS; `jetsync-table verify` compares
// the table with Redis (and repairs it through the bridge).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kelseyhightower/envconfig"

	"github.com/jetsync/jetsync/functions/table"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/platform"
)

func main() {
	var cfg table.Config
	mode, args := platform.Command("jetsync-table", "writes the hashes of one key prefix into one table", &cfg, os.Args[1:],
		platform.Subcommand{Name: "verify", Args: table.VerifyUsage, Summary: table.VerifySummary})
	var opts table.VerifyOptions
	if mode == platform.Sub {
		var err error
		if opts, err = table.ParseVerify(args[1:]); errors.Is(err, table.ErrHelp) {
			fmt.Print(table.VerifyHelp)
			os.Exit(0)
		} else if err != nil {
			fmt.Fprintf(os.Stderr, "jetsync-table verify: %v\n\n%s", err, table.VerifyHelp)
			os.Exit(table.VerifyFailed)
		}
	}
	if err := envconfig.Process("jetsync", &cfg); err != nil {
		handlers.Exit(err)
	}
	switch mode {
	case platform.Check:
		if err := table.Check(context.Background(), cfg, os.Stdout, platform.NewLogger(cfg.LogConfig, nil)); err != nil {
			os.Exit(1)
		}
		return
	case platform.Sub:
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := table.RunVerify(ctx, cfg, opts, os.Stdout, os.Stderr, platform.NewLogger(cfg.LogConfig, os.Stderr))
		stop()
		os.Exit(code)
	}
	fn, open, err := table.Build(cfg)
	if err != nil {
		handlers.Exit(err)
	}
	handlers.Serve(cfg.Config, fn, open)
}
