// Command jetsync-bench measures jetsync end to end on this machine against
// its MariaDB and JetStream ceilings (go tool task bench). Run it from the
// repository; -h lists the flags.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/jetsync/jetsync/infra/bench"
)

func main() {
	o := bench.DefaultOptions()
	o.Flags(flag.CommandLine)
	asJSON := flag.Bool("json", false, "print the report as JSON")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := bench.Run(ctx, o, log)
	if err != nil {
		log.Error("benchmark failed", "err", err)
		os.Exit(1)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r)
		return
	}
	r.WriteTable(os.Stdout)
}
