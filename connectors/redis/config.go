package redis

import (
	"fmt"
	"strings"
	"time"

	"github.com/jetsync/jetsync/infra/platform"
)

// Config is how the connector reaches the target Redis; variables are
// JETSYNC_TARGET_REDIS_*.
type Config struct {
	Addr         string          `split_words:"true" default:"127.0.0.1:6379"`
	Username     string          `split_words:"true"`
	Password     platform.Secret `split_words:"true"`
	PasswordFile string          `split_words:"true"`
	DB           int             `split_words:"true" default:"0"`
	// Key is the template of a row's key: {table} is the function's table,
	// {key} the key columns' values joined by ':'.
	Key string `split_words:"true" default:"{table}:{key}"`
	// Timeout bounds connecting and each round trip.
	Timeout time.Duration `split_words:"true" default:"5s"`
}

func (c Config) password() platform.SecretSource {
	return platform.SecretSource{Name: "JETSYNC_TARGET_REDIS_PASSWORD", Literal: c.Password, File: c.PasswordFile}
}

// Validate reports the first setting a person has to fix.
func (c Config) Validate() error {
	if err := platform.NoCredentials("JETSYNC_TARGET_REDIS_ADDR", c.Addr); err != nil {
		return err
	}
	if c.Addr == "" || !strings.Contains(c.Addr, ":") {
		return fmt.Errorf("JETSYNC_TARGET_REDIS_ADDR=%q: want host:port", c.Addr)
	}
	if c.DB < 0 {
		return fmt.Errorf("JETSYNC_TARGET_REDIS_DB=%d: must not be negative", c.DB)
	}
	if !strings.Contains(c.Key, "{key}") {
		return fmt.Errorf("JETSYNC_TARGET_REDIS_KEY=%q: the template must contain {key}, or every row would share one key", c.Key)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("JETSYNC_TARGET_REDIS_TIMEOUT=%s: must be positive", c.Timeout)
	}
	return c.password().Validate()
}

// keyOf is the target key of a row of table with the key columns' values.
func (c Config) keyOf(table string, key []string) string {
	return strings.NewReplacer("{table}", table, "{key}", strings.Join(key, ":")).Replace(c.Key)
}

// tablePattern is a SCAN pattern matching every key of table (a template
// with {key} last; otherwise every key the template can make).
func (c Config) tablePattern(table string) string {
	escaped := strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`, "]", `\]`).Replace(table)
	before, after, _ := strings.Cut(c.Key, "{key}")
	return strings.ReplaceAll(before, "{table}", escaped) + "*" + strings.ReplaceAll(after, "{table}", escaped)
}

// idOf is the key value whose row of table has key, the inverse of keyOf
// for one key column; false for a key the template does not make for
// table, and for the sink's own keys.
func (c Config) idOf(table, key string) (string, bool) {
	if key == checkpoints || strings.HasPrefix(key, applied) {
		return "", false
	}
	before, after, _ := strings.Cut(c.Key, "{key}")
	before, after = strings.ReplaceAll(before, "{table}", table), strings.ReplaceAll(after, "{table}", table)
	if len(key) < len(before)+len(after) || !strings.HasPrefix(key, before) || !strings.HasSuffix(key, after) {
		return "", false
	}
	return key[len(before) : len(key)-len(after)], true
}
