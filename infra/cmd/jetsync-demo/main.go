// Command jetsync-demo runs the seed example end to end on this machine
// (go tool task demo); -h lists the flags. Run it from the repository root.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/jetsync/jetsync/infra/demo"
)

func main() {
	o := demo.Options{Timeout: demo.DefaultTimeout, Out: os.Stdout}
	flag.BoolVar(&o.Exit, "exit", false, "stop once the seed's rows are in MariaDB")
	flag.DurationVar(&o.Timeout, "timeout", o.Timeout, "how long to wait for the seed's rows")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo.Run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
