// Package e2e runs jetsync's parts together in a test: a bridge and functions
// in-process against Redis, an embedded nats-server and MariaDB, each test
// with its own stream, prefixes, tables and names.
package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge"
	"github.com/jetsync/jetsync/bridge/streams"
	"github.com/jetsync/jetsync/connectors/mysql"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/platform"
	"github.com/jetsync/jetsync/infra/testenv"
)

// World is one test's servers and names.
type World struct {
	T       testing.TB
	NATSURL string
	Stream  string
	Redis   *redis.Client
	DB      *sql.DB
	// Quiet logs warnings only (benchmarks).
	Quiet bool
}

// New starts an embedded nats-server and connects to Redis and MariaDB.
func New(t testing.TB) *World {
	t.Helper()
	return &World{T: t, NATSURL: testenv.NATS(t), Stream: testenv.Name("JETSYNC"), Redis: testenv.Redis(t), DB: testenv.MySQL(t)}
}

// Logger logs to the test.
func (w *World) Logger() *slog.Logger {
	if w.Quiet {
		return testenv.QuietLogger(w.T)
	}
	return testenv.Logger(w.T)
}

// BridgeConfig is a bridge configuration with the product's defaults, for
// this world's Redis, NATS and stream.
func (w *World) BridgeConfig(prefixes ...string) bridge.Config {
	return bridge.Config{
		Redis:          bridge.RedisConfig{Addr: testenv.RedisAddr(), ConfigureNotifications: true},
		NATS:           platform.NATSConfig{URL: w.NATSURL},
		StreamConfig:   streams.StreamConfig{Name: w.Stream, MaxAge: time.Hour, MaxBytes: -1, Replicas: 1},
		LogConfig:      platform.LogConfig{Format: "text", Level: "info"},
		Prefixes:       prefixes,
		OnExpired:      "ignore",
		OnEvicted:      "ignore",
		Workers:        4,
		Batch:          256,
		ShutdownGrace:  5 * time.Second,
		Heartbeat:      time.Second,
		PublishTimeout: 5 * time.Second,
		BatchBytes:     8 << 20,
	}
}

// StartBridge runs a bridge of prefixes until stop is called or the test ends.
func (w *World) StartBridge(prefixes ...string) (stop func()) {
	w.T.Helper()
	return w.StartBridgeWith(w.BridgeConfig(prefixes...))
}

// StartBridgeWith runs a bridge of cfg until stop is called or the test ends.
func (w *World) StartBridgeWith(cfg bridge.Config) (stop func()) {
	w.T.Helper()
	b, err := bridge.New(context.Background(), cfg, w.Logger().With("component", "bridge"))
	if err != nil {
		w.T.Fatalf("bridge: %v", err)
	}
	stop = w.Start("bridge", b.Run)
	testenv.Eventually(w.T, 10*time.Second, b.Ready) // subscribed: no write goes unseen
	return stop
}

// FunctionConfig is a runtime configuration for function name of prefix,
// with short timings for tests.
func (w *World) FunctionConfig(name, prefix string) handlers.Config {
	return handlers.Config{
		Name: name, Version: "1", Prefix: prefix, Stream: w.Stream,
		NATS:      platform.NATSConfig{URL: w.NATSURL},
		LogConfig: platform.LogConfig{Format: "text", Level: "info"},
		BatchSize: 500, BatchWait: 5 * time.Millisecond, AckWait: 5 * time.Second,
		RetryMax: 500 * time.Millisecond, ShutdownGrace: 5 * time.Second, ReplayPoll: 200 * time.Millisecond,
	}
}

// MySQLConfig reaches the test MariaDB at addr (testenv.MySQLAddr(), or a proxy).
func (w *World) MySQLConfig(addr string) mysql.Config {
	return mysql.Config{Addr: addr, User: "root", Database: "test", TLS: "false", MaxConns: 2, Timeout: 2 * time.Second}
}

// OpenMySQL opens a MySQL sink at addr, for handlers.Run.
func (w *World) OpenMySQL(addr string) handlers.Opener {
	return func(ctx context.Context, log *slog.Logger) (handlers.Sink, error) {
		return mysql.Open(ctx, w.MySQLConfig(addr), log)
	}
}

// MySQLSink opens a sink to the test MariaDB (for handlertest kits); it is
// closed when the test ends.
func (w *World) MySQLSink() *mysql.Sink {
	w.T.Helper()
	s, err := mysql.Open(context.Background(), w.MySQLConfig(testenv.MySQLAddr()), w.Logger())
	if err != nil {
		w.T.Fatal(err)
	}
	w.T.Cleanup(func() { s.Close() })
	return s
}

// StartFunction runs fn with cfg, writing to the test MariaDB, until stop.
func (w *World) StartFunction(cfg handlers.Config, fn handlers.Function) (stop func()) {
	return w.Start(cfg.Name, func(ctx context.Context) error {
		return handlers.Run(ctx, cfg, fn, w.OpenMySQL(testenv.MySQLAddr()), w.Logger().With("component", cfg.Name))
	})
}

// Start runs run in the background until stop is called or the test ends;
// an error other than cancellation fails the test.
func (w *World) Start(name string, run func(ctx context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			w.T.Errorf("%s: %v", name, err)
		}
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
	}
	w.T.Cleanup(stop)
	return stop
}

// Prefix returns a fresh key prefix whose keys (and journal stream) are
// deleted when the test ends.
func (w *World) Prefix(base string) string {
	p := testenv.Name(base)
	testenv.DeletePrefix(w.T, w.Redis, p)
	w.T.Cleanup(func() { w.Redis.Del(context.Background(), bridge.JournalStream(p)) })
	return p
}

// Table creates a table named after base with the given column definitions
// and drops it when the test ends.
func (w *World) Table(base, columns string) string {
	w.T.Helper()
	name := testenv.Name(base)
	testenv.Exec(w.T, w.DB, fmt.Sprintf("CREATE TABLE %s (%s) DEFAULT CHARSET=utf8mb4", name, columns))
	w.T.Cleanup(func() { w.DB.Exec("DROP TABLE " + name) })
	return name
}

// Count returns the number of rows of table.
func (w *World) Count(table string) int {
	w.T.Helper()
	var n int
	if err := w.DB.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		w.T.Fatal(err)
	}
	return n
}

// Rows returns the result of query as lines of '|'-separated values, NULL
// for NULL.
func (w *World) Rows(query string, args ...any) ([]string, error) {
	rows, err := w.DB.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		fields := make([]string, len(cols))
		for i, v := range vals {
			fields[i] = v.String
			if !v.Valid {
				fields[i] = "NULL"
			}
		}
		out = append(out, strings.Join(fields, "|"))
	}
	return out, rows.Err()
}

// WaitRows waits until query returns exactly want (in order).
func (w *World) WaitRows(timeout time.Duration, want []string, query string, args ...any) {
	w.T.Helper()
	testenv.Eventually(w.T, timeout, func() error {
		got, err := w.Rows(query, args...)
		if err != nil {
			return err
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			return fmt.Errorf("%s\n got: %q\nwant: %q", query, got, want)
		}
		return nil
	})
}
