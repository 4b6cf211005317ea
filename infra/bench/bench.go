package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/infra/harness"
)

// columns of every benchmark table: the id, three mapped fields (name,
// email, n: the write's index, or its time in µs for the latency phase), and
// the time MariaDB wrote the row.
const columns = "id VARBINARY(64) NOT NULL PRIMARY KEY, name VARCHAR(64), email VARCHAR(64), n BIGINT, " +
	"committed_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)"

const mappings = "name:name,email:email,n:n"

// fields are the three hash fields of write i (about 60 bytes with names).
func fields(i int, n int64) []any {
	s := strconv.Itoa(i)
	return []any{"name", "Name-" + s, "email", "user" + s + "@example.com", "n", strconv.FormatInt(n, 10)}
}

// env is one run's servers, processes and names.
type env struct {
	opts   Options
	log    *slog.Logger
	dir    string
	bins   harness.Binaries
	ns     *harness.NATSServer
	nc     *nats.Conn
	js     jetstream.JetStream
	rdb    *redis.Client
	db     *sql.DB
	run    string // unique suffix
	stream string
	bridge *harness.Proc
	brHTTP string
	// cleanups run in reverse order.
	cleanups []func()
}

// Run runs every phase and returns the report. It cleans up after itself.
func Run(ctx context.Context, opts Options, log *slog.Logger) (*Report, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	e := &env{opts: opts, log: log, run: strings.TrimPrefix(harness.Name(""), "_")}
	defer e.cleanup()
	if err := e.setup(ctx); err != nil {
		return nil, err
	}
	r := &Report{Options: opts, Machine: machine(ctx, e.db, e.nc, e.rdb)}

	var err error
	log.Info("ceiling: direct upserts into MariaDB", "rows", opts.Changes, "keys", opts.Keys)
	if r.Ceilings.MySQLOverKeys, err = e.withCPU(func() (Rate, error) { return e.mysqlCeiling(ctx, "ceil_k", opts.Keys) }); err != nil {
		return nil, err
	}
	log.Info("ceiling: direct inserts into MariaDB", "rows", opts.Changes)
	if r.Ceilings.MySQLUnique, err = e.withCPU(func() (Rate, error) { return e.mysqlCeiling(ctx, "ceil_u", opts.Changes) }); err != nil {
		return nil, err
	}
	log.Info("ceiling: JetStream publish and consume", "messages", opts.Changes)
	if r.Ceilings.JetStream, err = e.withCPU(func() (Rate, error) { return e.jetStreamCeiling(ctx) }); err != nil {
		return nil, err
	}

	if err := e.startBridge(ctx); err != nil {
		return nil, err
	}
	bridgeBefore, _ := e.bridge.Stats()
	log.Info("end to end: drain with coalescing", "changes", opts.Changes, "keys", opts.Keys)
	d, err := e.drain(ctx, "drain", opts.Changes, opts.Keys)
	if err != nil {
		return nil, err
	}
	d.Ceiling = r.Ceilings.MySQLOverKeys
	r.Drains = append(r.Drains, d)
	log.Info("end to end: drain, every key written once", "changes", opts.Changes)
	d, err = e.drain(ctx, "unique", opts.Changes, opts.Changes)
	if err != nil {
		return nil, err
	}
	d.Ceiling = r.Ceilings.MySQLUnique
	r.Drains = append(r.Drains, d)
	log.Info("end to end: latency at a paced load", "rate", opts.Rate, "duration", opts.Duration)
	if r.Latency, err = e.latency(ctx); err != nil {
		return nil, err
	}
	bridgeAfter, err := e.bridge.Stats()
	if err != nil {
		return nil, fmt.Errorf("bridge stats: %w", err)
	}
	total := 2*opts.Changes + r.Latency.Changes
	r.Bridge = Resources{PeakRSS: bridgeAfter.PeakRSS, CPUPer1k: per1k(bridgeAfter.CPUSeconds-bridgeBefore.CPUSeconds, total)}
	r.evaluate()
	r.Machine.LoadEnd = loadAvg()
	return r, nil
}

func per1k(seconds float64, changes int) float64 {
	if changes == 0 {
		return 0
	}
	return seconds / float64(changes) * 1000
}

func (e *env) defer_(f func()) { e.cleanups = append(e.cleanups, f) }

func (e *env) cleanup() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

func (e *env) setup(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "jetsync-bench-")
	if err != nil {
		return err
	}
	e.dir = dir
	e.defer_(func() {
		if e.opts.Keep {
			e.log.Info("kept the run's directory", "dir", dir)
			return
		}
		os.RemoveAll(dir)
	})
	e.log.Info("building nats-server, the bridge and the table function", "dir", dir)
	if e.bins, err = harness.Build(ctx, dir); err != nil {
		return err
	}
	if e.ns, err = harness.NewNATSServer(e.bins.NATSServer, filepath.Join(dir, "nats"), filepath.Join(dir, "nats.log")); err != nil {
		return err
	}
	if err := e.ns.Start(); err != nil {
		return err
	}
	e.defer_(func() { _ = e.ns.Stop(10 * time.Second) })
	if e.nc, err = nats.Connect(e.ns.URL()); err != nil {
		return err
	}
	e.defer_(e.nc.Close)
	if e.js, err = jetstream.New(e.nc, jetstream.WithPublishAsyncMaxPending(4096)); err != nil {
		return err
	}
	e.rdb = redis.NewClient(&redis.Options{Addr: e.opts.RedisAddr})
	e.defer_(func() { e.rdb.Close() })
	if err := e.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s (start it with go tool task up): %w", e.opts.RedisAddr, err)
	}
	cfg := driver.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.DBName = "tcp", e.opts.MySQLAddr, "root", "test"
	cfg.InterpolateParams = true
	if e.db, err = sql.Open("mysql", cfg.FormatDSN()); err != nil {
		return err
	}
	e.defer_(func() { e.db.Close() })
	if err := e.db.PingContext(ctx); err != nil {
		return fmt.Errorf("mariadb at %s (start it with go tool task up): %w", e.opts.MySQLAddr, err)
	}
	e.stream = "JSBENCH_" + e.run
	return nil
}

// table creates a benchmark table and drops it at cleanup.
func (e *env) table(ctx context.Context, base string) (string, error) {
	name := "jsbench_" + e.run + "_" + base
	if _, err := e.db.ExecContext(ctx, "CREATE TABLE "+name+" ("+columns+") DEFAULT CHARSET=utf8mb4"); err != nil {
		return "", err
	}
	e.defer_(func() { e.db.Exec("DROP TABLE " + name) })
	return name, nil
}

func (e *env) prefix(base string) string {
	p := "jsbench_" + e.run + "_" + base
	e.defer_(func() {
		if _, err := harness.DeleteKeys(context.Background(), e.rdb, p); err != nil {
			e.log.Warn("deleting the benchmark's keys", "prefix", p, "err", err)
		}
	})
	return p
}

func (e *env) startBridge(ctx context.Context) error {
	addr, err := harness.HTTPAddr()
	if err != nil {
		return err
	}
	prefixes := []string{e.prefix("drain"), e.prefix("unique"), e.prefix("lat")}
	e.brHTTP = addr
	e.bridge = harness.NewBridge(e.bins.Bridge, harness.BridgeOptions{
		NATSURL: e.ns.URL(), Stream: e.stream, Prefixes: strings.Join(prefixes, ","), HTTPAddr: addr,
		Log: filepath.Join(e.dir, "bridge.log"), Extra: append([]string{"JETSYNC_REDIS_ADDR=" + e.opts.RedisAddr}, e.opts.BridgeEnv...),
	})
	if err := e.bridge.Start(); err != nil {
		return err
	}
	// Registered after the prefixes: the bridge stops before their keys go.
	e.defer_(func() { _ = e.bridge.Stop(10 * time.Second) })
	return harness.WaitBridge(ctx, e.bridge, addr, 30*time.Second)
}

// startFunction starts a table function for prefix base into table.
func (e *env) startFunction(ctx context.Context, base, table string) (*harness.Proc, string, error) {
	addr, err := harness.HTTPAddr()
	if err != nil {
		return nil, "", err
	}
	name := "jsbench_" + e.run + "_" + base
	p := harness.NewFunction(e.bins.Table, harness.FunctionOptions{
		Name: name, Prefix: "jsbench_" + e.run + "_" + base, Stream: e.stream, NATSURL: e.ns.URL(),
		Table: table, KeyColumn: "id", Mappings: mappings, Connector: e.opts.Connector,
		MySQLAddr: e.opts.MySQLAddr, BatchSize: e.opts.Batch, HTTPAddr: addr,
		Log: filepath.Join(e.dir, base+".log"), Extra: e.opts.FunctionEnv,
	})
	if err := p.Start(); err != nil {
		return nil, "", err
	}
	e.defer_(func() {
		_ = p.Stop(10 * time.Second)
		e.db.Exec("DELETE FROM jetsync_applied WHERE function_name = ?", name)
		e.db.Exec("DELETE FROM jetsync_checkpoints WHERE function_name = ?", name)
	})
	return p, addr, harness.WaitReady(ctx, p, addr, 30*time.Second)
}

// others are the shared servers whose CPU time each phase reports.
func others(ns *harness.NATSServer) map[string]int {
	return map[string]int{
		"nats-server":  ns.Pid(),
		"mariadbd":     harness.FindProcess("mariadbd", ""),
		"redis-server": harness.FindProcess("redis-server", ":6379"),
	}
}

func cpuOf(pids map[string]int) map[string]float64 {
	out := map[string]float64{}
	for name, pid := range pids {
		if pid == 0 {
			continue
		}
		if s, err := harness.ReadStats(pid); err == nil {
			out[name] = s.CPUSeconds
		}
	}
	return out
}

// waitFor polls cond every interval until it has held for hold, and returns
// when it first held in that run; it fails after timeout.
func waitFor(ctx context.Context, timeout, interval, hold time.Duration, cond func() (bool, error)) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	var since time.Time
	for {
		now := time.Now()
		ok, err := cond()
		if err != nil && !errors.Is(err, context.Canceled) {
			ok = false
		}
		switch {
		case !ok:
			since = time.Time{}
		case since.IsZero():
			since = now
		}
		if ok && now.Sub(since) >= hold {
			return since, nil
		}
		if now.After(deadline) {
			return time.Time{}, fmt.Errorf("not reached in %s (last error: %v)", timeout, err)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(interval):
		}
	}
}
