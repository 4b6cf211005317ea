package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge"
	"github.com/jetsync/jetsync/connectors/mysql"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/platform"
	"github.com/jetsync/jetsync/infra/testenv"
)

// world is one test's servers and names.
type world struct {
	t       testing.TB
	quiet   bool // log warnings only (benchmarks)
	natsURL string
	stream  string
	rdb     *redis.Client
	db      *sql.DB
}

func newWorld(t testing.TB) *world {
	t.Helper()
	return &world{t: t, natsURL: testenv.NATS(t), stream: testenv.Name("JETSYNC"), rdb: testenv.Redis(t), db: testenv.MySQL(t)}
}

func (w *world) logger() *slog.Logger {
	if w.quiet {
		return testenv.QuietLogger(w.t)
	}
	return testenv.Logger(w.t)
}

func (w *world) bridgeConfig(prefixes ...string) bridge.Config {
	return bridge.Config{
		Redis:         bridge.RedisConfig{Addr: testenv.RedisAddr(), ConfigureNotifications: true},
		NATS:          platform.NATSConfig{URL: w.natsURL},
		StreamConfig:  platform.StreamConfig{Name: w.stream, MaxAge: time.Hour, MaxBytes: -1, Replicas: 1},
		LogConfig:     platform.LogConfig{Format: "text", Level: "info"},
		Prefixes:      prefixes,
		OnExpired:     "ignore",
		OnEvicted:     "ignore",
		Workers:       4,
		Batch:         256,
		ShutdownGrace: 5 * time.Second,
	}
}

// startBridge runs a bridge until the returned stop is called (or the test ends).
func (w *world) startBridge(prefixes ...string) (stop func()) {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b, err := bridge.New(ctx, w.bridgeConfig(prefixes...), w.logger().With("component", "bridge"))
	if err != nil {
		cancel()
		w.t.Fatalf("bridge: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			w.t.Errorf("bridge run: %v", err)
		}
	}
	w.t.Cleanup(stop)
	return stop
}

func (w *world) tableConfig(name, prefix, table, key, mappings, mysqlAddr string) Config {
	return Config{
		Config: handlers.Config{
			Name: name, Version: "1", Prefix: prefix, Stream: w.stream,
			NATS:      platform.NATSConfig{URL: w.natsURL},
			LogConfig: platform.LogConfig{Format: "text", Level: "info"},
			BatchSize: 200, BatchWait: 5 * time.Millisecond, AckWait: 5 * time.Second,
			RetryMax: 500 * time.Millisecond, ShutdownGrace: 5 * time.Second,
		},
		Table: table, KeyColumn: key, Mappings: mappings, Connector: "mysql",
		MySQL: mysql.Config{Addr: mysqlAddr, User: "root", Database: "test", TLS: "false", MaxConns: 2, Timeout: 2 * time.Second},
	}
}

// startFunction runs the table function in-process until stop is called.
func (w *world) startFunction(cfg Config) (stop func()) {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, w.logger().With("component", cfg.Name)) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			w.t.Errorf("function %s: %v", cfg.Name, err)
		}
	}
	w.t.Cleanup(stop)
	return stop
}

// personsTable creates a persons-like table with an extra unmapped column.
func (w *world) personsTable() string {
	w.t.Helper()
	table := testenv.Name("persons")
	testenv.Exec(w.t, w.db, fmt.Sprintf("CREATE TABLE %s (person_id VARCHAR(255) PRIMARY KEY, first VARCHAR(255), last VARCHAR(255), age INT, note VARCHAR(255) DEFAULT 'untouched') DEFAULT CHARSET=utf8mb4", table))
	w.t.Cleanup(func() { w.db.Exec("DROP TABLE " + table) })
	return table
}

func (w *world) prefix(base string) string {
	p := testenv.Name(base)
	testenv.DeletePrefix(w.t, w.rdb, p)
	return p
}

type person struct {
	first, last, note sql.NullString
	age               sql.NullInt64
}

// person reads one row; ok is false when there is none.
func (w *world) person(table, id string) (p person, ok bool, err error) {
	err = w.db.QueryRow(fmt.Sprintf("SELECT first, last, age, note FROM %s WHERE person_id = ?", table), id).Scan(&p.first, &p.last, &p.age, &p.note)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	return p, err == nil, err
}

func (w *world) count(table string) int {
	w.t.Helper()
	var n int
	if err := w.db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// waitRows waits until the table holds exactly the ages in want (id -> age).
func (w *world) waitRows(table string, want map[string]int, timeout time.Duration) {
	w.t.Helper()
	testenv.Eventually(w.t, timeout, func() error {
		rows, err := w.db.Query(fmt.Sprintf("SELECT person_id, age FROM %s", table))
		if err != nil {
			return err
		}
		defer rows.Close()
		got := map[string]int{}
		for rows.Next() {
			var id string
			var age sql.NullInt64
			if err := rows.Scan(&id, &age); err != nil {
				return err
			}
			got[id] = int(age.Int64)
		}
		if len(got) != len(want) {
			return fmt.Errorf("table %s has %d rows, want %d", table, len(got), len(want))
		}
		for id, age := range want {
			if g, ok := got[id]; !ok || g != age {
				return fmt.Errorf("row %s: age %d (present %v), want %d", id, g, ok, age)
			}
		}
		return nil
	})
}
