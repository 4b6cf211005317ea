package chaos

import (
	"flag"
	"fmt"
	"strings"
	"time"
)

// Options are the chaos run's knobs; the command sets them from flags.
type Options struct {
	Duration time.Duration
	// Rate bounds the load (operations/s) over Keys keys.
	Rate int
	Keys int
	// Seed makes the load and the fault schedule repeatable (0: random).
	Seed int64
	// RedisAddr is an outside Redis to use; empty (the default): the run
	// starts a redis-server of its own, which the Redis faults need.
	RedisAddr string
	MySQLAddr string
	// Faults names the fault kinds to inject (FaultKinds' names), in turn.
	Faults []string
	// Instances is how many processes each function runs (one consumer).
	Instances int
	// NATSNodes is the size of the JetStream cluster (1: one server); the
	// streams get as many replicas.
	NATSNodes int
	// Quiesce bounds the wait for everything to drain after the load.
	Quiesce time.Duration
	// Keep leaves the temporary directory (process logs) in place.
	Keep bool
}

// DefaultOptions: two minutes, 300 operations/s over 1,000 keys, one NATS
// server, two instances of each function, a Redis of the run's own; Faults
// empty: every kind that fits the NATS size (DefaultFaults).
func DefaultOptions() Options {
	return Options{Duration: 2 * time.Minute, Rate: 300, Keys: 1000,
		MySQLAddr: "127.0.0.1:3306", Quiesce: 3 * time.Minute, Instances: 2, NATSNodes: 1}
}

// DefaultFaults are the kinds a run with nodes NATS servers injects when
// none are named: node loss and leader step-down need a cluster.
func DefaultFaults(nodes int) []string {
	var kinds []string
	for _, k := range FaultKinds {
		if nodes == 1 && (k.Name == "nats-kill" || k.Name == "nats-stepdown") {
			continue
		}
		kinds = append(kinds, k.Name)
	}
	return kinds
}

// Validate reports the first option to fix.
func (o Options) Validate() error {
	switch {
	case o.Duration < 20*time.Second:
		return fmt.Errorf("-duration %s: use at least 20s (four faults need room)", o.Duration)
	case o.Rate < 1 || o.Rate > 5000:
		return fmt.Errorf("-rate %d: use 1 to 5000", o.Rate)
	case o.Keys < 1:
		return fmt.Errorf("-keys %d: want at least 1", o.Keys)
	case o.Quiesce < 10*time.Second:
		return fmt.Errorf("-quiesce %s: use at least 10s", o.Quiesce)
	case o.Instances < 1 || o.Instances > 4:
		return fmt.Errorf("-instances %d: use 1 to 4", o.Instances)
	case o.NATSNodes != 1 && o.NATSNodes != 3:
		return fmt.Errorf("-nats-nodes %d: use 1 or 3", o.NATSNodes)
	}
	for _, f := range o.Faults {
		known := false
		for _, k := range FaultKinds {
			known = known || k.Name == f
		}
		if !known {
			return fmt.Errorf("-faults: unknown fault %q; the kinds are %s", f, faultNames())
		}
		if o.RedisAddr != "" && strings.HasPrefix(f, "redis-") {
			return fmt.Errorf("-faults %s needs the run's own Redis: drop -redis", f)
		}
		if o.NATSNodes == 1 && (f == "nats-kill" || f == "nats-stepdown") {
			return fmt.Errorf("-faults %s needs a NATS cluster (-nats-nodes 3): a SIGKILLed lone server may lose acknowledged messages", f)
		}
	}
	return nil
}

func faultNames() string {
	var names []string
	for _, k := range FaultKinds {
		names = append(names, k.Name)
	}
	return strings.Join(names, ",")
}

// Flags registers o's fields as command-line flags of fs, with o's values
// as their defaults.
func (o *Options) Flags(fs *flag.FlagSet) {
	fs.DurationVar(&o.Duration, "duration", o.Duration, "how long the load and the faults last")
	fs.IntVar(&o.Rate, "rate", o.Rate, "load operations per second")
	fs.IntVar(&o.Keys, "keys", o.Keys, "keys the load writes to")
	fs.Int64Var(&o.Seed, "seed", 0, "seed of the load and the fault schedule (0: random)")
	fs.StringVar(&o.RedisAddr, "redis", o.RedisAddr, "an outside Redis to use (default: a redis-server of the run's own, which the Redis faults need)")
	fs.Func("faults", "fault kinds to inject in turn, comma-separated (default: every kind that fits -nats-nodes: "+strings.Join(DefaultFaults(1), ",")+"; with 3: "+strings.Join(DefaultFaults(3), ",")+")", func(v string) error {
		o.Faults = strings.Split(v, ",")
		return nil
	})
	fs.IntVar(&o.Instances, "instances", o.Instances, "processes per function (they share its consumer)")
	fs.IntVar(&o.NATSNodes, "nats-nodes", o.NATSNodes, "JetStream cluster size, 1 or 3 (streams get as many replicas)")
	fs.StringVar(&o.MySQLAddr, "mysql", o.MySQLAddr, "MariaDB address (root, database test)")
	fs.DurationVar(&o.Quiesce, "quiesce", o.Quiesce, "longest wait for the pipeline to drain after the load")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary directory (process logs)")
}
