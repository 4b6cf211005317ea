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
	"strings"
	"syscall"

	"github.com/jetsync/jetsync/infra/chaos"
)

func main() {
	o := chaos.DefaultOptions()
	flag.DurationVar(&o.Duration, "duration", o.Duration, "how long the load and the faults last")
	flag.IntVar(&o.Rate, "rate", o.Rate, "load operations per second")
	flag.IntVar(&o.Keys, "keys", o.Keys, "keys the load writes to")
	flag.Int64Var(&o.Seed, "seed", 0, "seed of the load and the fault schedule (0: random)")
	flag.StringVar(&o.RedisAddr, "redis", o.RedisAddr, "an outside Redis to use (default: a redis-server of the run's own, which the Redis faults need)")
	faults := flag.String("faults", "", "fault kinds to inject in turn, comma-separated (default: every kind that fits -nats-nodes: "+strings.Join(chaos.DefaultFaults(1), ",")+"; with 3: "+strings.Join(chaos.DefaultFaults(3), ",")+")")
	flag.IntVar(&o.Instances, "instances", o.Instances, "processes per function (they share its consumer)")
	flag.IntVar(&o.NATSNodes, "nats-nodes", o.NATSNodes, "JetStream cluster size, 1 or 3 (streams get as many replicas)")
	flag.StringVar(&o.MySQLAddr, "mysql", o.MySQLAddr, "MariaDB address (root, database test)")
	flag.DurationVar(&o.Quiesce, "quiesce", o.Quiesce, "longest wait for the pipeline to drain after the load")
	flag.BoolVar(&o.Keep, "keep", false, "keep the temporary directory (process logs)")
	flag.Parse()
	if *faults != "" {
		o.Faults = strings.Split(*faults, ",")
	}

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
