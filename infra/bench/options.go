package bench

import (
	"flag"
	"fmt"
	"time"
)

// Options are the benchmark's knobs; the command sets them from flags.
type Options struct {
	// Changes (N) HSETs over Keys (K) keys in the drain phase; the unique
	// phase writes Changes keys once each.
	Changes int
	Keys    int
	// Rate changes/s for Duration in the latency phase.
	Rate     int
	Duration time.Duration
	// Batch is the function's JETSYNC_BATCH_SIZE and the ceiling's rows per
	// transaction.
	Batch     int
	Connector string
	RedisAddr string
	MySQLAddr string
	// Timeout bounds each phase's wait for the pipeline to drain.
	Timeout time.Duration
	// BridgeEnv and FunctionEnv are extra KEY=VALUE variables for those
	// processes (e.g. JETSYNC_WORKERS, GOMEMLIMIT), for experiments.
	BridgeEnv   []string
	FunctionEnv []string
	// Keep leaves the temporary directory (logs, NATS store) in place.
	Keep bool
}

// DefaultOptions are the defaults.
func DefaultOptions() Options {
	return Options{Changes: 200000, Keys: 20000, Rate: 2000, Duration: 30 * time.Second, Batch: 500,
		Connector: "mysql", RedisAddr: "127.0.0.1:6379", MySQLAddr: "127.0.0.1:3306", Timeout: 5 * time.Minute}
}

// Validate reports the first option to fix.
func (o Options) Validate() error {
	switch {
	case o.Changes < 1:
		return fmt.Errorf("-n %d: want at least 1", o.Changes)
	case o.Keys < 1:
		return fmt.Errorf("-k %d: want at least 1", o.Keys)
	case o.Rate < 1 || o.Rate > 100000:
		return fmt.Errorf("-rate %d: use 1 to 100000", o.Rate)
	case o.Duration < time.Second:
		return fmt.Errorf("-duration %s: use at least 1s", o.Duration)
	case o.Batch < 1 || o.Batch > 10000:
		return fmt.Errorf("-batch %d: use 1 to 10000", o.Batch)
	case o.Connector != "mysql":
		return fmt.Errorf("-connector %q: the benchmark drives mysql (MariaDB) only", o.Connector)
	case o.Timeout < time.Second:
		return fmt.Errorf("-timeout %s: use at least 1s", o.Timeout)
	}
	return nil
}

// Flags registers o's fields as command-line flags of fs, with o's values
// as their defaults.
func (o *Options) Flags(fs *flag.FlagSet) {
	fs.IntVar(&o.Changes, "n", o.Changes, "HSETs in each drain phase")
	fs.IntVar(&o.Keys, "k", o.Keys, "keys the coalescing drain phase writes to")
	fs.IntVar(&o.Rate, "rate", o.Rate, "changes/s of the latency phase")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "length of the latency phase")
	fs.IntVar(&o.Batch, "batch", o.Batch, "function batch size (JETSYNC_BATCH_SIZE) and ceiling rows per transaction")
	fs.StringVar(&o.Connector, "connector", o.Connector, "target connector (mysql)")
	fs.StringVar(&o.RedisAddr, "redis", o.RedisAddr, "Redis address")
	fs.StringVar(&o.MySQLAddr, "mysql", o.MySQLAddr, "MariaDB address (root, database test)")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "longest wait for one phase to drain")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary directory (process logs)")
	fs.Func("bridge-env", "extra KEY=VALUE for the bridge process (repeatable)", func(v string) error {
		o.BridgeEnv = append(o.BridgeEnv, v)
		return nil
	})
	fs.Func("function-env", "extra KEY=VALUE for the function processes (repeatable)", func(v string) error {
		o.FunctionEnv = append(o.FunctionEnv, v)
		return nil
	})
}
