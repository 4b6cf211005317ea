package chaos

import (
	"fmt"
	"time"
)

// Options are the chaos run's knobs; the command sets them from flags.
type Options struct {
	Duration time.Duration
	// Rate bounds the load (operations/s) over Keys keys.
	Rate int
	Keys int
	// Seed makes the load and the fault schedule repeatable (0: random).
	Seed      int64
	RedisAddr string
	MySQLAddr string
	// Quiesce bounds the wait for everything to drain after the load.
	Quiesce time.Duration
	// Keep leaves the temporary directory (process logs) in place.
	Keep bool
}

// DefaultOptions: two minutes, 300 operations/s over 1,000 keys.
func DefaultOptions() Options {
	return Options{Duration: 2 * time.Minute, Rate: 300, Keys: 1000, RedisAddr: "127.0.0.1:6379",
		MySQLAddr: "127.0.0.1:3306", Quiesce: 3 * time.Minute}
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
	}
	return nil
}
