package handlers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/infra/platform"
)

// Config is the runtime's configuration; a function's main fills it from
// JETSYNC_* variables with envconfig.
type Config struct {
	// Name names the function and its durable consumer. When empty, a Named
	// function's Name is used.
	Name string `envconfig:"FUNCTION_NAME"`
	// Version is dotted integers ("1", "2.3"). A newer version with the same
	// name takes over the consumer; an older one refuses to start. When
	// empty, a Named function's Version is used, else "1".
	Version string `envconfig:"FUNCTION_VERSION"`
	// Prefix is the key prefix whose changes the function gets.
	Prefix string              `split_words:"true" required:"true"`
	Stream string              `split_words:"true" default:"JETSYNC"`
	NATS   platform.NATSConfig `envconfig:"NATS"`
	platform.LogConfig
	platform.HTTPConfig

	// BatchSize is the most changes written in one transaction.
	BatchSize int `split_words:"true" default:"500"`
	// BatchWait is how long a batch waits to fill after its first change:
	// a fetch returns a full batch at once, and what has arrived when
	// BatchWait ends. 0 takes only what has arrived (the fetch still takes
	// about a millisecond).
	BatchWait time.Duration `split_words:"true" default:"1ms"`
	// FetchMaxBytes bounds the bytes of one batch (a first change larger
	// than it is still taken alone); 0 means 8 MiB. The function holds at
	// most two batches: the one it writes and the next.
	FetchMaxBytes int `split_words:"true" default:"8388608"`
	// AckWait is how long JetStream waits for an ack before redelivering; the
	// runtime keeps it alive while it retries.
	AckWait time.Duration `split_words:"true" default:"30s"`
	// RetryMax caps the backoff between retries of a failed write.
	RetryMax time.Duration `split_words:"true" default:"30s"`
	// MaxDeliver: a message delivered more often than this without being
	// acked (the function crashed or timed out on it every time) is
	// dead-lettered instead of tried again; 0: never. JetStream's own
	// MaxDeliver is not used: it would drop the message silently.
	MaxDeliver int `split_words:"true" default:"10"`
	// ShutdownGrace bounds how long a stopping function keeps writing what
	// it has already fetched; the rest is redelivered to the next instance.
	ShutdownGrace time.Duration `split_words:"true" default:"10s"`
	// PruneInterval is how often the function drops the guard entries that
	// no change can reach any more (deleted keys' entries, mostly); 0:
	// never.
	PruneInterval time.Duration `split_words:"true" default:"1h"`
	// ReplayPoll is how often the function looks for a replay asked with
	// `jetsync replay` (its consumer <name>_replay); 0 means 2s.
	ReplayPoll time.Duration `split_words:"true" default:"2s"`
}

// withIdentity fills an empty name and version from fn.
func (c Config) withIdentity(fn Function) Config {
	if n, ok := fn.(Named); ok {
		if c.Name == "" {
			c.Name = n.Name()
		}
		if c.Version == "" {
			c.Version = n.Version()
		}
	}
	if c.Version == "" {
		c.Version = "1"
	}
	if c.ReplayPoll == 0 {
		c.ReplayPoll = 2 * time.Second
	}
	if c.FetchMaxBytes == 0 {
		c.FetchMaxBytes = 8 << 20
	}
	return c
}

// Validate reports the first setting a person has to fix.
func (c Config) Validate() error {
	if c.Name == "" {
		return fmt.Errorf("JETSYNC_FUNCTION_NAME is empty: name the function (it names its consumer)")
	}
	if err := platform.ValidName("JETSYNC_FUNCTION_NAME", c.Name); err != nil {
		return err
	}
	if strings.HasSuffix(c.Name, "_replay") {
		return fmt.Errorf("JETSYNC_FUNCTION_NAME=%s: names ending in _replay are taken by replay consumers", c.Name)
	}
	if c.MaxDeliver < 0 {
		return fmt.Errorf("JETSYNC_MAX_DELIVER=%d: use 0 (never dead-letter for redeliveries) or more", c.MaxDeliver)
	}
	if c.PruneInterval < 0 {
		return fmt.Errorf("JETSYNC_PRUNE_INTERVAL=%s: must not be negative (0: never)", c.PruneInterval)
	}
	if c.ReplayPoll < 0 {
		return fmt.Errorf("JETSYNC_REPLAY_POLL=%s: must not be negative", c.ReplayPoll)
	}
	if c.Name == change.BridgeFunction {
		return fmt.Errorf("JETSYNC_FUNCTION_NAME=bridge is taken: the bridge files its own dead letters under that name")
	}
	if _, err := parseVersion(c.Version); err != nil {
		return fmt.Errorf("JETSYNC_FUNCTION_VERSION: %w", err)
	}
	if err := change.ValidPrefix(c.Prefix); err != nil {
		return fmt.Errorf("JETSYNC_PREFIX: %w", err)
	}
	if err := platform.ValidName("JETSYNC_STREAM", c.Stream); err != nil {
		return err
	}
	if c.BatchSize < 1 || c.BatchSize > 100000 {
		return fmt.Errorf("JETSYNC_BATCH_SIZE=%d: use 1 to 100000", c.BatchSize)
	}
	if c.BatchWait < 0 {
		return fmt.Errorf("JETSYNC_BATCH_WAIT=%s: must not be negative", c.BatchWait)
	}
	if c.FetchMaxBytes != 0 && c.FetchMaxBytes < 1024 {
		return fmt.Errorf("JETSYNC_FETCH_MAX_BYTES=%d: use at least 1024 (0: 8 MiB)", c.FetchMaxBytes)
	}
	if c.AckWait < time.Second {
		return fmt.Errorf("JETSYNC_ACK_WAIT=%s: use at least 1s", c.AckWait)
	}
	if c.RetryMax < 10*time.Millisecond {
		return fmt.Errorf("JETSYNC_RETRY_MAX=%s: use at least 10ms", c.RetryMax)
	}
	if err := c.NATS.Validate(); err != nil {
		return err
	}
	if err := c.HTTPConfig.Validate(); err != nil {
		return err
	}
	return c.LogConfig.Validate()
}

// parseVersion reads dotted non-negative integers: "1", "2.10.3".
func parseVersion(v string) ([]int, error) {
	if v == "" {
		return nil, fmt.Errorf("version is empty")
	}
	parts := strings.Split(v, ".")
	out := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("version %q: want dotted non-negative integers like 1 or 2.3", v)
		}
		out[i] = n
	}
	return out, nil
}

// compareVersions returns -1, 0 or 1 as a is older than, the same as, or
// newer than b; missing parts count as 0 ("2" == "2.0").
func compareVersions(a, b []int) int {
	for i := range max(len(a), len(b)) {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
