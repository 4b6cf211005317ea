// Command demo runs the seed example end to end on this machine: an
// embedded nats-server (unless JETSYNC_NATS_URL is set), the bridge and the
// persons and cars table functions as separate processes configured only by
// environment, the seed's HSETs, and the rows as they land in MariaDB.
// Run it from the repository root: `go tool task demo`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	exit := flag.Bool("exit", false, "stop once the seed's rows are in MariaDB")
	wait := flag.Duration("timeout", 2*time.Minute, "how long to wait for the seed's rows")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *exit, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
