package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"

	driver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/connectors/sqlsink"
	"github.com/jetsync/jetsync/handlers"
)

var _ handlers.Sink = (*Sink)(nil)

// Sink writes ops to one SQLite database file: the SQL sink in SQLite's
// dialect, and the schema checks.
type Sink struct {
	*sqlsink.Sink
	db  *sql.DB
	cfg Config
}

// dsn is the driver's data source name for cfg: WAL, busy timeout,
// synchronous, foreign keys on, and BEGIN IMMEDIATE for every transaction.
func dsn(cfg Config) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", cfg.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+cfg.Synchronous+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	return "file:" + (&url.URL{Path: cfg.Path}).EscapedPath() + "?" + q.Encode()
}

// Open validates cfg, opens (or creates) the database file and creates
// jetsync's state tables in it.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn(cfg))
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", cfg.Path, err)
	}
	// One writer at a time is all SQLite allows; one connection makes
	// concurrent writes of this process queue in Go instead of spinning on
	// the busy timeout.
	db.SetMaxOpenConns(1)
	// Another process switching a new file to WAL can hold it for a moment
	// past the busy timeout: retry while the file is busy.
	err = connectors.Connect(ctx, log, func(ctx context.Context) error {
		if err := createStateTables(ctx, db); err != nil {
			return fmt.Errorf("sqlite %s (JETSYNC_SQLITE_PATH): %w", cfg.Path, err)
		}
		return nil
	}, func(err error) bool { return !isBusy(err) })
	if err != nil {
		db.Close()
		return nil, err
	}
	log.Debug("sqlite database open", "path", cfg.Path)
	return &Sink{Sink: sqlsink.New(sqlsink.FromSQL(db, nil), dialect{}), db: db, cfg: cfg}, nil
}

// DB returns the connection pool, for tools and tests.
func (s *Sink) DB() *sql.DB { return s.db }

// dialect is SQLite's: double-quoted names, ? placeholders, INSERT ... ON
// CONFLICT, the guard of state.go.
type dialect struct{}

var _ sqlsink.Dialect = dialect{}

func (dialect) Quote(name string) string { return quote(name) }

func (dialect) Param(int) string { return "?" }

func (dialect) Classify(err error) error { return classify(err) }

func (dialect) WriteRun(ctx context.Context, tx sqlsink.Tx, run []handlers.Op) error {
	return sqlsink.ExecAll(ctx, tx, statements(run))
}

func (dialect) CheckpointSQL() string {
	return "INSERT INTO " + sqlsink.CheckpointsTable + " (function_name, seq, updated_at) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))" +
		" ON CONFLICT (function_name) DO UPDATE SET seq = max(seq, excluded.seq), updated_at = excluded.updated_at"
}

// classify marks errors that this data can never get past as permanent:
// constraint failures (CHECK, NOT NULL, FOREIGN KEY, UNIQUE, and DATATYPE
// in STRICT tables), a value too big and a datatype mismatch. Everything
// else (busy, locked, I/O, full disk, read-only, unknown) is transient.
func classify(err error) error {
	var se *driver.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH:
		return handlers.Permanent(err)
	}
	return err
}

func isBusy(err error) bool {
	var se *driver.Error
	return errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED)
}

// Opener returns a handlers.Opener that opens a Sink with cfg, for
// handlers.Serve.
func Opener(cfg Config) handlers.Opener {
	return func(ctx context.Context, log *slog.Logger) (handlers.Sink, error) {
		return Open(ctx, cfg, log)
	}
}
