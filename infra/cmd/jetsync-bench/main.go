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
	flag.IntVar(&o.Changes, "n", o.Changes, "HSETs in each drain phase")
	flag.IntVar(&o.Keys, "k", o.Keys, "keys the coalescing drain phase writes to")
	flag.IntVar(&o.Rate, "rate", o.Rate, "changes/s of the latency phase")
	flag.DurationVar(&o.Duration, "duration", o.Duration, "length of the latency phase")
	flag.IntVar(&o.Batch, "batch", o.Batch, "function batch size (JETSYNC_BATCH_SIZE) and ceiling rows per transaction")
	flag.StringVar(&o.Connector, "connector", o.Connector, "target connector (mysql)")
	flag.StringVar(&o.RedisAddr, "redis", o.RedisAddr, "Redis address")
	flag.StringVar(&o.MySQLAddr, "mysql", o.MySQLAddr, "MariaDB address (root, database test)")
	flag.DurationVar(&o.Timeout, "timeout", o.Timeout, "longest wait for one phase to drain")
	flag.BoolVar(&o.Keep, "keep", false, "keep the temporary directory (process logs)")
	flag.Func("bridge-env", "extra KEY=VALUE for the bridge process (repeatable)", func(v string) error {
		o.BridgeEnv = append(o.BridgeEnv, v)
		return nil
	})
	flag.Func("function-env", "extra KEY=VALUE for the function processes (repeatable)", func(v string) error {
		o.FunctionEnv = append(o.FunctionEnv, v)
		return nil
	})
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
