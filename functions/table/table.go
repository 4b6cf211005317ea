// Package table is the generic table function: it writes the hashes of one
// key prefix into one table, mapping hash fields to columns, configured by
// JETSYNC_* variables (Config). Build turns a configuration into the
// function and the opener of its checked sink; RunVerify compares the
// table with Redis and repairs it through the bridge (verify.go);
// cmd/jetsync-table is its main.
package table

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge"
	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/connectors/cassandra"
	"github.com/jetsync/jetsync/connectors/mongodb"
	"github.com/jetsync/jetsync/connectors/mssql"
	"github.com/jetsync/jetsync/connectors/mysql"
	"github.com/jetsync/jetsync/connectors/oracle"
	"github.com/jetsync/jetsync/connectors/postgres"
	"github.com/jetsync/jetsync/connectors/redis"
	"github.com/jetsync/jetsync/connectors/sqlite"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/platform"
)

// Config is the table function's configuration.
type Config struct {
	handlers.Config
	// Table is the target table; KeyColumn its primary-key column, which
	// gets the key's id.
	Table     string `split_words:"true" required:"true"`
	KeyColumn string `split_words:"true" required:"true"`
	// Mappings maps hash fields to columns: "first_name:first,last_name:last,age:age".
	Mappings string `split_words:"true" required:"true"`
	// Mode is "upsert" (one row per key, the current state) or "append"
	// (one row per change: a history table with the stream sequence, op and
	// time in jetsync_seq, jetsync_op and jetsync_seen).
	Mode string `split_words:"true" default:"upsert"`
	// Connector is the target: mysql, postgres, sqlite, mssql, cassandra,
	// mongodb, redis, or oracle (in the build tagged oracle). Only its configuration is
	// validated and used.
	// KeyCollation is "exact" (the default, also when empty: at start, an
	// upsert table whose key column would make distinct Redis keys one row —
	// case or accent folding, trailing spaces ignored — stops the function)
	// or "any".
	KeyCollation string           `split_words:"true" default:"exact"`
	Connector    string           `split_words:"true" default:"mysql"`
	MySQL        mysql.Config     `envconfig:"MYSQL"`
	Postgres     postgres.Config  `envconfig:"POSTGRES"`
	SQLite       sqlite.Config    `envconfig:"SQLITE"`
	Cassandra    cassandra.Config `envconfig:"CASSANDRA"`
	Oracle       oracle.Config    `envconfig:"ORACLE"`
	Redis        redis.Config     `envconfig:"TARGET_REDIS"`
	MSSQL        mssql.Config     `envconfig:"MSSQL"`
	MongoDB      mongodb.Config   `envconfig:"MONGODB"`
	// Source is the Redis the prefix lives in, as the bridge reaches it
	// (JETSYNC_REDIS_*), and ValueType the prefix's value type there (hash,
	// json or string, as in the bridge's JETSYNC_PREFIXES): only verify
	// reads them.
	Source    bridge.RedisConfig `envconfig:"REDIS"`
	ValueType string             `split_words:"true" default:"hash"`
}

// Validate reports the first setting a person has to fix.
func (c Config) Validate() error {
	if c.Config.Version == "" {
		c.Config.Version = "1" // the runtime's default for a function that is not Named
	}
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.Table == "" || c.KeyColumn == "" {
		return fmt.Errorf("JETSYNC_TABLE and JETSYNC_KEY_COLUMN must both be set")
	}
	m, err := handlers.ParseMapping(c.Mappings)
	if err != nil {
		return fmt.Errorf("JETSYNC_MAPPINGS=%q: %w", c.Mappings, err)
	}
	for _, fc := range m {
		if fc.Column == c.KeyColumn {
			return fmt.Errorf("JETSYNC_MAPPINGS maps field %q to the key column %q, which always holds the key's id", fc.Field, c.KeyColumn)
		}
	}
	if c.Mode != "upsert" && c.Mode != "append" {
		return fmt.Errorf("JETSYNC_MODE=%q: use upsert or append", c.Mode)
	}
	if c.KeyCollation != "" && c.KeyCollation != "exact" && c.KeyCollation != "any" {
		return fmt.Errorf("JETSYNC_KEY_COLLATION=%q: use exact (distinct Redis keys must be distinct rows) or any", c.KeyCollation)
	}
	for _, fc := range m {
		if strings.HasPrefix(fc.Column, "jetsync_") {
			return fmt.Errorf("JETSYNC_MAPPINGS maps field %q to column %q: names starting with jetsync_ are jetsync's", fc.Field, fc.Column)
		}
	}
	if c.ValueType != "" {
		if err := bridge.ValidValueType(c.ValueType); err != nil {
			return fmt.Errorf("JETSYNC_VALUE_TYPE: %w", err)
		}
	}
	conn, ok := registry[c.Connector]
	if !ok {
		return fmt.Errorf("JETSYNC_CONNECTOR=%q: use %s", c.Connector, strings.Join(slices.Sorted(maps.Keys(registry)), ", "))
	}
	return conn.validate(c)
}

// CheckedSink is a sink that can check its table at start; every connector
// has one.
type CheckedSink interface {
	handlers.Sink
	CheckTable(ctx context.Context, table string, key, columns []string) error
}

// keyChecker is a sink that can tell whether a key column compares bytes
// exactly (the SQL targets).
type keyChecker interface {
	CheckKeyExact(ctx context.Context, table, column string) error
}

// connector is one target of JETSYNC_CONNECTOR: how its part of the
// configuration is checked and how its sink is opened.
type connector struct {
	validate func(Config) error
	open     func(context.Context, Config, *slog.Logger) (CheckedSink, error)
}

// registry holds every connector, by its JETSYNC_CONNECTOR name.
var registry = map[string]connector{
	"mysql": {
		func(c Config) error { return c.MySQL.Validate() },
		func(ctx context.Context, c Config, log *slog.Logger) (CheckedSink, error) {
			return mysql.Open(ctx, c.MySQL, log)
		},
	},
	"postgres": {
		func(c Config) error { return c.Postgres.Validate() },
		func(ctx context.Context, c Config, log *slog.Logger) (CheckedSink, error) {
			return postgres.Open(ctx, c.Postgres, log)
		},
	},
	"sqlite": {
		func(c Config) error { return c.SQLite.Validate() },
		func(ctx context.Context, c Config, log *slog.Logger) (CheckedSink, error) {
			return sqlite.Open(ctx, c.SQLite, log)
		},
	},
	"cassandra": {
		func(c Config) error { return c.Cassandra.Validate() },
		func(ctx context.Context, c Config, log *slog.Logger) (CheckedSink, error) {
			return cassandra.Open(ctx, c.Cassandra, log)
		},
	},
	"mssql": {
		func(c Config) error { return c.MSSQL.Validate() },
		func(ctx context.Context, c Config, log *slog.Logger) (CheckedSink, error) {
			return mssql.Open(ctx, c.MSSQL, log)
		},
	},
	"mongodb": {
		func(c Config) error { return c.MongoDB.Validate() },
		func(ctx context.Context, c Config, log *slog.Logger) (CheckedSink, error) {
			return mongodb.Open(ctx, c.MongoDB, log)
		},
	},
	"redis": {
		func(c Config) error { return c.Redis.Validate() },
		func(ctx context.Context, c Config, log *slog.Logger) (CheckedSink, error) {
			return redis.Open(ctx, c.Redis, log)
		},
	},
	"oracle": {
		func(c Config) error {
			if !oracle.Available {
				return fmt.Errorf("JETSYNC_CONNECTOR=oracle: this build has no Oracle connector; build it with CGO_ENABLED=1 go build -tags oracle ./functions/table/cmd/jetsync-table (it needs Oracle Instant Client at run time)")
			}
			return c.Oracle.Validate()
		},
		func(ctx context.Context, c Config, log *slog.Logger) (CheckedSink, error) {
			return oracle.Open(ctx, c.Oracle, log)
		},
	},
}

// Table writes each change of a prefix into one table. In upsert mode, an
// upsert sets the key column to the key's id and every mapped column to its
// field (NULL when the hash lacks it), and a delete deletes the row. In
// append mode every change adds a row: the key column, the stream sequence
// (jetsync_seq), the op (jetsync_op), when the bridge saw it (jetsync_seen)
// and the mapped columns (NULL for a delete).
type Table struct {
	Name      string
	KeyColumn string
	Mapping   handlers.Mapping
	Append    bool
}

// History columns of append mode.
var historyColumns = []string{"jetsync_seq", "jetsync_op", "jetsync_seen"}

// KeepHistory makes the runtime pass every change in append mode, not only
// the last one of each key.
func (t Table) KeepHistory() bool { return t.Append }

// Truncate deletes every row of the table, for `jetsync replay --truncate`;
// the sink must be a handlers.TableTruncater (MySQL, PostgreSQL, SQLite).
func (t Table) Truncate(ctx context.Context, sink handlers.Sink) error {
	tt, ok := sink.(handlers.TableTruncater)
	if !ok {
		return handlers.Permanent(fmt.Errorf("the %T connector cannot truncate table %s", sink, t.Name))
	}
	return tt.Truncate(ctx, t.Name)
}

// Handle implements handlers.Function.
func (t Table) Handle(_ context.Context, b *handlers.Batch) error {
	for _, c := range b.Changes {
		key := []handlers.Column{{Name: t.KeyColumn, Value: c.ID}}
		if t.Append {
			values := append(key, handlers.Column{Name: "jetsync_op", Value: string(c.Op)}, handlers.Column{Name: "jetsync_seen", Value: c.Seen})
			b.Upsert(t.Name, []handlers.Column{{Name: "jetsync_seq", Value: c.StreamSeq}}, append(values, t.Mapping.Values(c.Fields)...))
			continue
		}
		if c.Op == handlers.OpDelete {
			b.Delete(t.Name, key)
			continue
		}
		b.Upsert(t.Name, key, t.Mapping.Values(c.Fields))
	}
	return nil
}

// Build checks the configuration and returns the function and how to open
// its sink: the connector, after which the table is checked.
func Build(cfg Config) (Table, handlers.Opener, error) {
	if err := cfg.Validate(); err != nil {
		return Table{}, nil, err
	}
	m, _ := handlers.ParseMapping(cfg.Mappings) // Validate checked it
	fn := Table{Name: cfg.Table, KeyColumn: cfg.KeyColumn, Mapping: m, Append: cfg.Mode == "append"}
	key, columns := []string{cfg.KeyColumn}, m.Columns()
	if fn.Append {
		// A history table has many rows per key: no unique key to check.
		key, columns = nil, append(append([]string{cfg.KeyColumn}, historyColumns...), columns...)
	}
	open := func(ctx context.Context, log *slog.Logger) (handlers.Sink, error) {
		sink, err := registry[cfg.Connector].open(ctx, cfg, log)
		if err != nil {
			return nil, err
		}
		if err := sink.CheckTable(ctx, cfg.Table, key, columns); err != nil {
			sink.Close()
			return nil, fmt.Errorf("JETSYNC_TABLE=%s: %w", cfg.Table, err)
		}
		if kc, ok := sink.(keyChecker); ok && !fn.Append && cfg.KeyCollation != "any" {
			if err := kc.CheckKeyExact(ctx, cfg.Table, cfg.KeyColumn); err != nil {
				sink.Close()
				return nil, fmt.Errorf("JETSYNC_TABLE=%s: %w", cfg.Table, err)
			}
		}
		return sink, nil
	}
	return fn, open, nil
}

// Run runs the table function of cfg until ctx ends: the command's body
// without the process (signals, exit status), for programs that embed it.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	fn, open, err := Build(cfg)
	if err != nil {
		return err
	}
	return handlers.Run(ctx, cfg.Config, fn, open, log)
}

// Check is `jetsync-table check`: it validates cfg, opens the connector
// (which reaches the database and checks the table, its columns, its key
// and the key's collation), reaches NATS and looks up the stream and the
// function's consumer, writes one line per finding to out, and returns an
// error when anything would stop the function. It writes nothing.
func Check(ctx context.Context, cfg Config, out io.Writer, log *slog.Logger) error {
	fail := func(what string, err error) error {
		what = platform.Redact(what)
		fmt.Fprintf(out, "FAIL %s: %s\n", what, platform.Redact(err.Error()))
		return fmt.Errorf("%s: %w", what, err)
	}
	_, open, err := Build(cfg)
	if err != nil {
		return fail("configuration", err)
	}
	fmt.Fprintf(out, "ok   configuration: function %s, prefix %s → %s table %s (key %s)\n", cfg.Name, cfg.Prefix, cfg.Connector, cfg.Table, cfg.KeyColumn)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sink, err := open(ctx, log)
	if err != nil {
		return fail("database", err)
	}
	sink.Close()
	fmt.Fprintf(out, "ok   database: table %s has the mapped columns and a unique key on %s\n", cfg.Table, cfg.KeyColumn)
	nc, err := cfg.NATS.Connect("jetsync-table-check", log)
	if err != nil {
		return fail("NATS at "+cfg.NATS.URL, err)
	}
	defer nc.Close()
	fmt.Fprintf(out, "ok   NATS at %s: server %s\n", nc.ConnectedUrlRedacted(), nc.ConnectedServerVersion())
	js, err := jetstream.New(nc)
	if err != nil {
		return fail("JetStream", err)
	}
	if _, err := js.Stream(ctx, cfg.Stream); err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			fmt.Fprintf(out, "ok   stream %s does not exist yet: the function waits for the bridge to create it\n", cfg.Stream)
			return nil
		}
		return fail("stream "+cfg.Stream, err)
	}
	cons, err := js.Consumer(ctx, cfg.Stream, cfg.Name)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		fmt.Fprintf(out, "ok   consumer %s does not exist yet: the function starts at the beginning of the stream\n", cfg.Name)
	case err != nil:
		return fail("consumer "+cfg.Name, err)
	default:
		info := cons.CachedInfo()
		fmt.Fprintf(out, "ok   consumer %s: version %s, %d pending\n", cfg.Name, info.Config.Metadata[change.MetaVersion], info.NumPending)
	}
	return nil
}
