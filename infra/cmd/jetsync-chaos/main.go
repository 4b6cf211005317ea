// Command jetsync-chaos injects faults into a running jetsync under load and
// checks that Redis and the table agree afterwards (go tool task chaos).
// It exits 1 when they do not (or on duplicates or dead letters), 2 when it
// could not run. Run it from the repository; -h lists the flags.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/jetsync/jetsync/infra/chaos"
)

func main() {
	o := chaos.DefaultOptions()
	o.Flags(flag.CommandLine)
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := chaos.Run(ctx, o, log)
	if err != nil {
		log.Error("chaos run failed", "err", err)
		os.Exit(2)
	}
	s.Write(os.Stdout)
	if !s.OK() {
		os.Exit(1)
	}
}
