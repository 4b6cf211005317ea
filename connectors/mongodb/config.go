package mongodb

import (
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/jetsync/jetsync/infra/platform"
)

// Config is how the connector reaches the database; variables are
// JETSYNC_MONGODB_*.
type Config struct {
	// URI is the connection string, credentials included (DefaultURI when
	// neither it nor URIFile is set); URIFile is a file holding it (a
	// mounted secret), read again when a write fails for the connection,
	// so a rotated file needs no restart.
	URI     platform.Secret `envconfig:"URI"`
	URIFile string          `split_words:"true"`
	// Database holds one collection per table.
	Database string `default:"jetsync"`
	// KeyFields: besides _id, each document holds the key columns as
	// fields of their own names (so that they can be queried and indexed
	// like the other columns).
	KeyFields bool `split_words:"true" default:"true"`
	// TombstoneTTL is how long a deleted row's tombstone is kept (by a TTL
	// index; 0 keeps them): a change older than the delete that arrives
	// within it is refused instead of bringing the row back.
	TombstoneTTL time.Duration `split_words:"true" default:"24h"`
	// BulkSize is the most operations one bulk write command carries (a
	// write of more is sent as several; per-key order holds, as each row
	// is one operation per write). FerretDB 1.x keeps a connection of its
	// backend's pool for each update of an existing document until its
	// command ends, and stops answering when the pool (50) is used up:
	// keep it at 16 or less there.
	BulkSize int `split_words:"true" default:"1000"`
	// Timeout bounds connecting and server selection.
	Timeout time.Duration `split_words:"true" default:"10s"`
}

// DefaultURI is the connection string when none is set.
const DefaultURI = "mongodb://127.0.0.1:27017"

func (c Config) uri() platform.SecretSource {
	if c.URI == "" && c.URIFile == "" {
		c.URI = DefaultURI
	}
	return platform.SecretSource{Name: "JETSYNC_MONGODB_URI", Literal: c.URI, File: c.URIFile}
}

// Validate reports the first setting a person has to fix. The URI is never
// echoed: it may hold a password.
func (c Config) Validate() error {
	if err := c.uri().Validate(); err != nil {
		return err
	}
	uri, _ := c.uri().Read() // readable: checked above
	if err := options.Client().ApplyURI(uri).Validate(); err != nil {
		return fmt.Errorf("%s is not a MongoDB connection string (mongodb://host:port/...): %s", c.uriName(), platform.Redact(err.Error()))
	}
	if c.Database == "" || strings.ContainsAny(c.Database, `/\. "$`) {
		return fmt.Errorf("JETSYNC_MONGODB_DATABASE=%q: want a database name without / \\ . space \" or $", c.Database)
	}
	if c.TombstoneTTL < 0 {
		return fmt.Errorf("JETSYNC_MONGODB_TOMBSTONE_TTL=%s: must not be negative (0 keeps tombstones)", c.TombstoneTTL)
	}
	if c.BulkSize < 1 {
		return fmt.Errorf("JETSYNC_MONGODB_BULK_SIZE=%d: must be at least 1", c.BulkSize)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("JETSYNC_MONGODB_TIMEOUT=%s: must be positive", c.Timeout)
	}
	return nil
}

// uriName is the variable the URI came from, for messages.
func (c Config) uriName() string {
	if c.URIFile != "" {
		return "the URI in JETSYNC_MONGODB_URI_FILE"
	}
	return "JETSYNC_MONGODB_URI"
}
