package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/connectors/mysql"
	"github.com/jetsync/jetsync/handlers"
)

// Config is the table function's configuration.
type Config struct {
	handlers.Config
	// Table is the target table; KeyColumn its primary-key column, which
	// gets the key's id.
	Table     string `split_words:"true" required:"true"`
	KeyColumn string `split_words:"true" required:"true"`
	// Mappings maps hash fields to columns: "first_name:first,last_name:last,age:age".
	Mappings  string       `split_words:"true" required:"true"`
	Connector string       `split_words:"true" default:"mysql"`
	MySQL     mysql.Config `envconfig:"MYSQL"`
}

// Validate reports the first setting a person has to fix.
func (c Config) Validate() error {
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
	switch c.Connector {
	case "mysql":
		return c.MySQL.Validate()
	default:
		return fmt.Errorf("JETSYNC_CONNECTOR=%q: this build has mysql", c.Connector)
	}
}

// Table writes each change of a prefix as one row of one table: an upsert
// sets the key column to the key's id and every mapped column to its field
// (NULL when the hash lacks it); a delete deletes the row.
type Table struct {
	Name      string
	KeyColumn string
	Mapping   handlers.Mapping
}

// Handle implements handlers.Function.
func (t Table) Handle(_ context.Context, b *handlers.Batch) error {
	for _, c := range b.Changes {
		key := []handlers.Column{{Name: t.KeyColumn, Value: c.ID}}
		if c.Op == change.Delete {
			b.Delete(t.Name, key)
			continue
		}
		b.Upsert(t.Name, key, t.Mapping.Values(c.Fields))
	}
	return nil
}

// build checks the configuration and returns the function and how to open
// its sink: the connector, after which the table is checked.
func build(cfg Config) (Table, handlers.Open, error) {
	if err := cfg.Validate(); err != nil {
		return Table{}, nil, err
	}
	m, _ := handlers.ParseMapping(cfg.Mappings) // Validate checked it
	fn := Table{Name: cfg.Table, KeyColumn: cfg.KeyColumn, Mapping: m}
	open := func(ctx context.Context, log *slog.Logger) (handlers.Sink, error) {
		sink, err := mysql.Open(ctx, cfg.MySQL, log)
		if err != nil {
			return nil, err
		}
		if err := sink.CheckTable(ctx, cfg.Table, []string{cfg.KeyColumn}, m.Columns()); err != nil {
			sink.Close()
			return nil, fmt.Errorf("JETSYNC_TABLE=%s: %w", cfg.Table, err)
		}
		return sink, nil
	}
	return fn, open, nil
}

// run is main without the process: for tests.
func run(ctx context.Context, cfg Config, log *slog.Logger) error {
	fn, open, err := build(cfg)
	if err != nil {
		return err
	}
	return handlers.Run(ctx, cfg.Config, fn, open, log)
}
