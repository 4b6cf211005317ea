package sqlite

import (
	"fmt"
	"time"
)

// Config is where the database file is; variables are JETSYNC_SQLITE_*.
type Config struct {
	// Path is the database file; it is created when missing.
	Path string `split_words:"true" default:"jetsync.db"`
	// BusyTimeout is how long a write waits for another connection's lock
	// before it fails (transiently).
	BusyTimeout time.Duration `split_words:"true" default:"5s"`
	// Synchronous is SQLite's synchronous setting: full (a committed write
	// survives a power loss; the default) or normal (faster; in WAL mode a
	// power loss may undo the last commits, never corrupt the file).
	Synchronous string `split_words:"true" default:"full"`
}

// Validate reports the first setting a person has to fix.
func (c Config) Validate() error {
	if c.Path == "" {
		return fmt.Errorf("JETSYNC_SQLITE_PATH is empty")
	}
	if c.BusyTimeout < 0 {
		return fmt.Errorf("JETSYNC_SQLITE_BUSY_TIMEOUT=%s: must not be negative", c.BusyTimeout)
	}
	if c.Synchronous != "full" && c.Synchronous != "normal" {
		return fmt.Errorf("JETSYNC_SQLITE_SYNCHRONOUS=%q: use full or normal", c.Synchronous)
	}
	return nil
}
