package chaos

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/bridge/streams"
	"github.com/jetsync/jetsync/infra/harness"
)

// The table and the history table the two functions write.
const (
	columns  = "id VARBINARY(64) NOT NULL PRIMARY KEY, f1 VARCHAR(64), f2 VARCHAR(64), f3 VARCHAR(64)"
	history  = "hid BIGINT AUTO_INCREMENT PRIMARY KEY, id VARCHAR(64) NOT NULL, jetsync_seq BIGINT UNSIGNED NOT NULL, jetsync_op VARCHAR(8) NOT NULL, jetsync_seen DATETIME(6) NOT NULL, f1 VARCHAR(64), f2 VARCHAR(64), f3 VARCHAR(64), KEY (jetsync_seq)"
	mappings = "f1:f1,f2:f2,f3:f3"
)

// FaultKinds are the faults a run injects, by the name -faults takes, in the
// order they are injected, round after round.
var FaultKinds = []struct{ Name, Label string }{
	{"bridge-kill", "bridge SIGKILL"},
	{"functions-kill", "functions SIGKILL"},
	{"nats-restart", "NATS restart"},
	{"mariadb-cut", "MariaDB cut"},
	{"redis-restart", "Redis restart"},
	{"bridge-term", "bridge SIGTERM"},
	{"redis-busy", "Redis BUSY"},
	{"redis-failover", "Sentinel failover (master SIGKILL, replica promoted)"},
	{"bridge-partition", "active bridge's NATS link black-holed"},
	{"nats-kill", "NATS node SIGKILL"},
	{"nats-stepdown", "stream leader step-down"},
}

func faultLabel(name string) string {
	for _, k := range FaultKinds {
		if k.Name == name {
			return k.Label
		}
	}
	return name
}

type run struct {
	opts Options
	log  *slog.Logger
	rnd  *rand.Rand
	dir  string
	name string // unique per run: prefix, tables, stream, functions

	bins  harness.Binaries
	redis *harness.RedisServer // nil with -redis: an outside Redis
	// With the failover fault: a replica of redis and a Sentinel that
	// promotes it; which of the two is master changes with each failover.
	replica  *harness.RedisServer
	sentinel *harness.Sentinel
	nats     *harness.NATSCluster
	proxy    *harness.Proxy
	// An HA pair of bridges, each reaching every NATS node through a proxy
	// of its own.
	bridges []*harness.Proc
	brHTTP  []string
	brProxy [][]*harness.Proxy
	fns     []*harness.Proc // upsert instances, then append instances
	fnHTTP  []string
	fnMode  []string
	rdb     *redis.Client
	db      *sql.DB
	table   string
	history string
	// journal is the prefix written through the jetsync_* Redis functions
	// (journal mode) and the name of its table: nothing about it is excused.
	journal string

	mu         sync.Mutex
	lastDelete map[string]time.Time
	down       []Interval
	// maxSeen is, per key, the highest load sequence the sampler read in
	// its row's f1.
	maxSeen map[string]int
	// With a replica: per key (prefix:id), the load sequences of writes the
	// replica did not confirm (WAIT) — a failover may lose them, and that
	// is Redis's loss, not jetsync's — and the sequence of its last write.
	unconfirmed map[string]map[int]bool
	lastWrite   map[string]int

	cleanups []func()
}

// Run runs the chaos suite and returns its summary; the caller decides
// what a failed summary means (Summary.OK). It cleans up after itself.
func Run(ctx context.Context, opts Options, log *slog.Logger) (*Summary, error) {
	if len(opts.Faults) == 0 {
		opts.Faults = DefaultFaults(opts.NATSNodes)
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Seed == 0 {
		opts.Seed = rand.Int64N(1 << 40)
	}
	r := &run{opts: opts, log: log, rnd: rand.New(rand.NewPCG(uint64(opts.Seed), 1)), name: harness.Name("jschaos"),
		lastDelete: map[string]time.Time{}, maxSeen: map[string]int{}, unconfirmed: map[string]map[int]bool{}, lastWrite: map[string]int{}}
	defer r.cleanup()
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	s := &Summary{Seed: opts.Seed, Duration: opts.Duration, Faults: map[string]int{}}

	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan error, 1)
	go func() { loadDone <- r.load(loadCtx, s) }()
	monCtx, stopMonitor := context.WithCancel(ctx)
	defer stopMonitor()
	monDone := make(chan struct{})
	go func() { r.monitor(monCtx); close(monDone) }()
	sampleDone := make(chan struct{})
	go func() { r.sample(monCtx, s); close(sampleDone) }()
	faultErr := r.faults(ctx, s)
	stopLoad()
	if err := <-loadDone; err != nil && !errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("load: %w", err)
	}
	if faultErr != nil {
		return nil, faultErr
	}
	log.Info("load stopped; waiting for the pipeline to drain", "changes", s.Changes)
	if err := r.quiesce(ctx); err != nil {
		return nil, err
	}
	stopMonitor()
	<-monDone
	<-sampleDone
	if err := r.compare(ctx, s); err != nil {
		return nil, err
	}
	if !s.OK() && !r.opts.Keep {
		r.opts.Keep = true // the logs explain the failure
	}
	return s, nil
}

// functionBatch is the functions' JETSYNC_BATCH_SIZE.
const functionBatch = 200

// monitor records every interval in which no bridge is subscribed: killed
// or restarting, standing by for its lease, or stepped down because it
// could not renew its lease (a NATS restart longer than the lease TTL), or
// with subscriptions not confirmed. A bridge that is subscribed but cut
// from NATS still sees deletes (it queues and retries them), so that does
// not count. It polls every 50 ms and widens each interval by one poll on
// both sides.
func (r *run) monitor(ctx context.Context) {
	const every = 50 * time.Millisecond
	// up reports whether a bridge is subscribed; known is false when a poll
	// failed (a slow or refused health request says nothing either way, and
	// must not widen an excused interval).
	up := func() (ok, known bool) {
		known = true
		for i, b := range r.bridges {
			if !b.Running() {
				continue
			}
			v, got := harness.Metric("http://"+r.brHTTP[i]+"/metrics", "jetsync_bridge_active")
			if !got {
				known = false
				continue
			}
			if v != 1 {
				continue
			}
			// Not connected to NATS is still subscribed (it queues and
			// retries, and hands its deletions over when it steps down);
			// unconfirmed subscriptions and a Redis it cannot hear are not.
			code, body := harness.Get("http://" + r.brHTTP[i] + "/readyz")
			if code == 200 || code == 503 && !strings.Contains(body, "subscriptions") && !strings.Contains(body, "keyspace notification") {
				return true, true
			}
			if code == 0 {
				known = false
			}
		}
		return false, known
	}
	var from time.Time // zero while up
	lastUp := time.Now()
	for {
		now := time.Now()
		ok, known := up()
		switch {
		case !ok && !known:
			// A poll failed: no observation.
		case ok && !from.IsZero():
			r.mu.Lock()
			r.down = append(r.down, Interval{From: from, To: time.Now().Add(every)})
			r.mu.Unlock()
			from = time.Time{}
		case !ok && from.IsZero():
			from = lastUp.Add(-every)
		}
		if ok {
			lastUp = now
		}
		select {
		case <-ctx.Done():
			if !from.IsZero() {
				r.mu.Lock()
				r.down = append(r.down, Interval{From: from, To: time.Now()})
				r.mu.Unlock()
			}
			return
		case <-time.After(every):
		}
	}
}

func (r *run) onCleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func (r *run) cleanup() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func (r *run) setup(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "jetsync-chaos-")
	if err != nil {
		return err
	}
	r.dir = dir
	r.onCleanup(func() {
		if r.opts.Keep {
			r.log.Info("kept the run's directory", "dir", dir)
			return
		}
		os.RemoveAll(dir)
	})
	r.log.Info("building nats-server, the bridge and the table function", "dir", dir)
	if r.bins, err = harness.Build(ctx, dir); err != nil {
		return err
	}
	redisAddr := r.opts.RedisAddr
	if redisAddr == "" {
		// A Redis of the run's own, which it may restart and keep busy:
		// append-only with fsync on every write, so a restart keeps what
		// Redis acknowledged, and a short busy-reply threshold.
		if r.redis, err = harness.NewRedisServer(filepath.Join(dir, "redis"), filepath.Join(dir, "redis.log"), "--busy-reply-threshold", "100"); err != nil {
			return err
		}
		if err := os.MkdirAll(r.redis.Dir, 0o700); err != nil {
			return err
		}
		if err := r.redis.Start(); err != nil {
			return err
		}
		r.onCleanup(func() { _ = r.redis.Kill() })
		redisAddr = r.redis.Addr()
	}
	redisEnv := []string{"JETSYNC_REDIS_ADDR=" + redisAddr}
	if slices.Contains(r.opts.Faults, "redis-failover") {
		if err := r.startSentinel(ctx); err != nil {
			return err
		}
		redisEnv = []string{"JETSYNC_REDIS_SENTINEL=" + r.sentinel.Addr(), "JETSYNC_REDIS_MASTER_NAME=" + r.sentinel.Name}
		r.rdb = redis.NewFailoverClient(&redis.FailoverOptions{MasterName: r.sentinel.Name, SentinelAddrs: []string{r.sentinel.Addr()}})
	} else {
		r.rdb = redis.NewClient(&redis.Options{Addr: redisAddr})
	}
	r.onCleanup(func() { r.rdb.Close() })
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s (start it with go tool task up): %w", redisAddr, err)
	}
	r.onCleanup(func() {
		if _, err := harness.DeleteKeys(context.Background(), r.rdb, r.name); err != nil {
			r.log.Warn("deleting the run's keys", "err", err)
		}
	})
	cfg := driver.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.DBName = "tcp", r.opts.MySQLAddr, "root", "test"
	if r.db, err = sql.Open("mysql", cfg.FormatDSN()); err != nil {
		return err
	}
	r.onCleanup(func() { r.db.Close() })
	if err := r.db.PingContext(ctx); err != nil {
		return fmt.Errorf("mariadb at %s (start it with go tool task up): %w", r.opts.MySQLAddr, err)
	}
	r.table, r.history, r.journal = r.name, r.name+"_history", r.name+"_j"
	for name, cols := range map[string]string{r.table: columns, r.history: history, r.journal: columns} {
		if _, err := r.db.ExecContext(ctx, "CREATE TABLE "+name+" ("+cols+") DEFAULT CHARSET=utf8mb4"); err != nil {
			return err
		}
		r.onCleanup(func() { r.db.Exec("DROP TABLE " + name) })
	}
	if r.proxy, err = harness.NewProxy(r.opts.MySQLAddr); err != nil {
		return err
	}
	r.onCleanup(r.proxy.Close)

	if r.nats, err = harness.NewNATSCluster(r.bins.NATSServer, dir, r.opts.NATSNodes); err != nil {
		return err
	}
	if err := r.nats.Start(); err != nil {
		return err
	}
	r.onCleanup(func() { r.nats.Stop(10 * time.Second) })

	for i := range 2 {
		addr, err := harness.HTTPAddr()
		if err != nil {
			return err
		}
		var proxies []*harness.Proxy
		var urls []string
		for _, node := range r.nats.Nodes {
			proxy, err := harness.NewProxy(fmt.Sprintf("127.0.0.1:%d", node.Port))
			if err != nil {
				return err
			}
			r.onCleanup(proxy.Close)
			proxies, urls = append(proxies, proxy), append(urls, "nats://"+proxy.Addr)
		}
		p := harness.NewBridge(r.bins.Bridge, harness.BridgeOptions{
			NATSURL: strings.Join(urls, ","), Stream: r.name, Prefixes: r.name + "," + r.journal, HTTPAddr: addr,
			Log: filepath.Join(dir, fmt.Sprintf("bridge-%d.log", i+1)),
			Extra: append([]string{"JETSYNC_HA_GROUP=" + r.name, "JETSYNC_HA_TTL=3s",
				"JETSYNC_JOURNAL=" + r.journal, "JETSYNC_STREAM_REPLICAS=" + strconv.Itoa(r.opts.NATSNodes)}, redisEnv...),
		})
		p.Name = fmt.Sprintf("bridge %d", i+1)
		if err := p.Start(); err != nil {
			return err
		}
		r.onCleanup(func() { _ = p.Stop(10 * time.Second) })
		if err := harness.WaitReady(ctx, p, addr, 30*time.Second); err != nil {
			return err
		}
		r.bridges, r.brHTTP, r.brProxy = append(r.bridges, p), append(r.brHTTP, addr), append(r.brProxy, proxies)
	}
	if _, err := r.waitActive(ctx, 30*time.Second); err != nil {
		return err
	}
	for _, fn := range []struct{ mode, prefix, table, name string }{
		{"upsert", r.name, r.table, r.name + "_upsert"},
		{"append", r.name, r.history, r.name + "_append"},
		{"upsert", r.journal, r.journal, r.name + "_journal"},
	} {
		mode, fname := fn.mode, fn.name
		r.onCleanup(func() {
			r.db.Exec("DELETE FROM jetsync_applied WHERE function_name = ?", fname)
			r.db.Exec("DELETE FROM jetsync_checkpoints WHERE function_name = ?", fname)
		})
		for i := range r.opts.Instances {
			addr, err := harness.HTTPAddr()
			if err != nil {
				return err
			}
			p := harness.NewFunction(r.bins.Table, harness.FunctionOptions{
				Name: fname, Prefix: fn.prefix, Stream: r.name, NATSURL: r.nats.URL(),
				Table: fn.table, KeyColumn: "id", Mappings: mappings, Mode: mode,
				MySQLAddr: r.proxy.Addr, BatchSize: functionBatch, HTTPAddr: addr, Log: filepath.Join(dir, fmt.Sprintf("%s-%d.log", fname, i+1)),
				// Redelivery after a SIGKILL within seconds; short retries after an outage.
				Extra: []string{"JETSYNC_ACK_WAIT=5s", "JETSYNC_RETRY_MAX=2s", "JETSYNC_MYSQL_TIMEOUT=2s"},
			})
			p.Name = fmt.Sprintf("function %s %d", fname, i+1)
			if err := p.Start(); err != nil {
				return err
			}
			r.onCleanup(func() { _ = p.Stop(10 * time.Second) })
			if err := harness.WaitReady(ctx, p, addr, 30*time.Second); err != nil {
				return err
			}
			r.fns = append(r.fns, p)
			r.fnHTTP = append(r.fnHTTP, addr)
			r.fnMode = append(r.fnMode, fname)
		}
	}
	return nil
}

// load runs the mixed load until ctx ends: per tick, upserts (field f1 and
// a random subset of f2, f3), removals of f2 or f3 (never f1, so a hash
// never empties by HDEL) and DELs, 70/15/15, at most Rate per second.
func (r *run) load(ctx context.Context, s *Summary) error {
	const tick = 10 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	rnd := rand.New(rand.NewPCG(uint64(r.opts.Seed), 2))
	touched := map[int]bool{}
	defer func() { s.Keys = len(touched) }()
	for seq := 0; ; {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			due := int(float64(r.opts.Rate)*now.Sub(start).Seconds()) - seq
			for range due {
				seq++
				k := rnd.IntN(r.opts.Keys)
				id := strconv.Itoa(k)
				var err error
				p := rnd.IntN(100)
				if rnd.IntN(4) == 0 {
					// A quarter of the load is in journal mode.
					if err = r.journaled(ctx, rnd, r.journal+":"+id, p, seq); err != nil {
						if ctx.Err() != nil {
							return nil
						}
						if r.redis == nil {
							return err
						}
						s.Failed++
						continue
					}
					s.JournalChanges++
					continue
				}
				touched[k] = true
				key := r.name + ":" + id
				switch {
				case p < 70:
					args := upsertArgs(rnd, seq)
					err = r.write(ctx, key, seq, func(c redis.Cmdable) redis.Cmder { return c.HSet(ctx, key, args...) })
					s.Upserts++
				case p < 85:
					field := []string{"f2", "f3"}[rnd.IntN(2)]
					err = r.write(ctx, key, seq, func(c redis.Cmdable) redis.Cmder { return c.HDel(ctx, key, field) })
					s.Removals++
				default:
					// Only a DEL that removed the key raises an event; one of
					// a key already gone is not a deletion.
					var del *redis.IntCmd
					err = r.write(ctx, key, seq, func(c redis.Cmdable) redis.Cmder { del = c.Del(ctx, key); return del })
					if n, _ := del.Result(); n == 1 {
						r.mu.Lock()
						r.lastDelete[id] = time.Now()
						r.mu.Unlock()
					}
					s.Deletes++
				}
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					if r.redis == nil {
						return err
					}
					// Redis restarting or busy: the write may or may not
					// have happened; the final comparison reads what did.
					// A DEL that may have happened counts as a delete now.
					s.Failed++
					switch {
					case p < 70:
						s.Upserts--
					case p < 85:
						s.Removals--
					default:
						s.Deletes--
					}
					r.mu.Lock()
					if p >= 85 {
						r.lastDelete[id] = time.Now()
					}
					r.mu.Unlock()
					continue
				}
				s.Changes++
			}
		}
	}
}

// upsertArgs are the fields of an upsert: f1 (the rising counter the
// sampler checks) and a random subset of f2, f3.
func upsertArgs(rnd *rand.Rand, seq int) []any {
	args := []any{"f1", "v" + strconv.Itoa(seq)}
	if rnd.IntN(2) == 0 {
		args = append(args, "f2", "w"+strconv.Itoa(seq))
	}
	if rnd.IntN(2) == 0 {
		args = append(args, "f3", "x"+strconv.Itoa(seq))
	}
	return args
}

// journaled makes one change of key through the jetsync Redis functions:
// an upsert, a field removal or a delete, as the rest of the load does.
func (r *run) journaled(ctx context.Context, rnd *rand.Rand, key string, p, seq int) error {
	switch {
	case p < 70:
		args := upsertArgs(rnd, seq)
		return r.write(ctx, key, seq, func(c redis.Cmdable) redis.Cmder { return c.FCall(ctx, "jetsync_hset", []string{key}, args...) })
	case p < 85:
		field := []string{"f2", "f3"}[rnd.IntN(2)]
		return r.write(ctx, key, seq, func(c redis.Cmdable) redis.Cmder { return c.FCall(ctx, "jetsync_hdel", []string{key}, field) })
	default:
		return r.write(ctx, key, seq, func(c redis.Cmdable) redis.Cmder { return c.FCall(ctx, "jetsync_del", []string{key}) })
	}
}

// write makes one write of the load, the seq-th, to key. With a replica
// (the failover fault) it then waits, on the same connection, until the
// replica has it (WAIT 1, at most 100 ms); a write it does not confirm may
// be lost by a failover, and is noted as such.
func (r *run) write(ctx context.Context, key string, seq int, do func(redis.Cmdable) redis.Cmder) error {
	if r.sentinel == nil {
		return do(r.rdb).Err()
	}
	var cmd redis.Cmder
	var wait *redis.Cmd
	_, _ = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		cmd = do(p)
		wait = p.Do(ctx, "WAIT", 1, 100)
		return nil
	})
	if err := cmd.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastWrite[key] = seq
	if n, err := wait.Int(); err != nil || n < 1 {
		if r.unconfirmed[key] == nil {
			r.unconfirmed[key] = map[int]bool{}
		}
		r.unconfirmed[key][seq] = true
	}
	return nil
}

// unconfirmedWrite reports whether the seq-th write of the load, to key,
// was not confirmed by the replica.
func (r *run) unconfirmedWrite(key string, seq int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unconfirmed[key][seq]
}

// lostByRedis reports whether key's last write was not confirmed by the
// replica: a difference between its row and Redis may then be Redis's own
// loss in a failover.
func (r *run) lostByRedis(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unconfirmed[key][r.lastWrite[key]]
}

// startSentinel starts a replica of the run's Redis and a Sentinel that
// promotes it when the master has not answered for 5 s (longer than a
// Redis restart or BUSY fault, so that only the failover fault fails over).
func (r *run) startSentinel(ctx context.Context) error {
	var err error
	if r.replica, err = harness.NewRedisServer(filepath.Join(r.dir, "replica"), filepath.Join(r.dir, "replica.log"), "--busy-reply-threshold", "100"); err != nil {
		return err
	}
	if err := os.MkdirAll(r.replica.Dir, 0o700); err != nil {
		return err
	}
	if err := r.replica.StartReplicaOf(r.redis.Addr()); err != nil {
		return err
	}
	r.onCleanup(func() { _ = r.replica.Kill() })
	if err := harness.WaitReplicaSynced(ctx, r.replica.Addr(), 30*time.Second); err != nil {
		return err
	}
	if r.sentinel, err = harness.NewSentinel(r.dir, filepath.Join(r.dir, "sentinel.log"), r.name, r.redis.Addr(), 5*time.Second); err != nil {
		return err
	}
	if err := r.sentinel.Start(); err != nil {
		return err
	}
	r.onCleanup(func() { _ = r.sentinel.Kill() })
	return nil
}

// master is the run's Redis server that is master now, and the other one
// (nil without a replica).
func (r *run) master(ctx context.Context) (master, other *harness.RedisServer, err error) {
	if r.sentinel == nil {
		return r.redis, nil, nil
	}
	addr, err := r.sentinel.Master(ctx)
	if err != nil {
		return nil, nil, err
	}
	if addr == r.replica.Addr() {
		return r.replica, r.redis, nil
	}
	return r.redis, r.replica, nil
}

// faults injects one fault per slot, kinds in turn, at a random moment of
// its slot, until Duration has passed.
func (r *run) faults(ctx context.Context, s *Summary) error {
	start := time.Now()
	kinds := r.opts.Faults
	slots := max(len(kinds), int(r.opts.Duration/(15*time.Second)))
	slot := r.opts.Duration / time.Duration(slots)
	for i := range slots {
		// A random moment in the first two thirds of the slot, so that
		// the fault is over before the next slot.
		at := start.Add(time.Duration(i)*slot + time.Duration(r.rnd.Int64N(int64(slot*2/3))))
		if !sleepUntil(ctx, at) {
			return ctx.Err()
		}
		kind := kinds[i%len(kinds)]
		r.log.Info("fault", "kind", faultLabel(kind), "at", time.Since(start).Round(time.Millisecond))
		if err := r.inject(ctx, kind); err != nil {
			return fmt.Errorf("%s: %w", faultLabel(kind), err)
		}
		s.Faults[kind]++
	}
	sleepUntil(ctx, start.Add(r.opts.Duration))
	return ctx.Err()
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(t)):
		return true
	}
}

// pause sleeps a random time in [lo, hi).
func (r *run) pause(ctx context.Context, lo, hi time.Duration) bool {
	return sleepUntil(ctx, time.Now().Add(lo+time.Duration(r.rnd.Int64N(int64(hi-lo)))))
}

func (r *run) inject(ctx context.Context, kind string) error {
	switch kind {
	case "bridge-kill", "bridge-term":
		// The active bridge; the standby takes over (at once after a clean
		// stop, which releases the lease; within the TTL after a kill).
		i, err := r.waitActive(ctx, 60*time.Second)
		if err != nil {
			return err
		}
		b := r.bridges[i]
		from := time.Now()
		stop := b.Kill
		if kind == "bridge-term" {
			// A clean stop hands its queued deletions over: nothing
			// before it is excused.
			stop = func() error { return b.Stop(30 * time.Second) }
		}
		if err := stop(); err != nil {
			return err
		}
		_, err = r.waitActive(ctx, 60*time.Second)
		r.mu.Lock()
		r.down = append(r.down, Interval{From: from, To: time.Now(), Killed: kind == "bridge-kill"})
		r.mu.Unlock()
		if err != nil {
			return err
		}
		r.pause(ctx, 500*time.Millisecond, 3*time.Second)
		if err := b.Start(); err != nil {
			return err
		}
		return harness.WaitReady(ctx, b, r.brHTTP[i], 60*time.Second)
	case "bridge-partition":
		// The active bridge's NATS link stops forwarding, connection open:
		// it cannot renew its lease, the standby takes over, and when the
		// link heals what the old one had sent arrives late — and must not
		// win (bridge and function fencing).
		i, err := r.waitActive(ctx, 60*time.Second)
		if err != nil {
			return err
		}
		for _, p := range r.brProxy[i] {
			p.Blackhole()
		}
		r.pause(ctx, 6*time.Second, 10*time.Second)
		for _, p := range r.brProxy[i] {
			p.Heal()
		}
		_, err = r.waitActive(ctx, 60*time.Second)
		return err
	case "redis-restart":
		// SIGKILL: what Redis acknowledged is in its append-only file; the
		// notification setting the bridge made is not.
		m, _, err := r.master(ctx)
		if err != nil {
			return err
		}
		if err := m.Kill(); err != nil {
			return err
		}
		r.pause(ctx, 500*time.Millisecond, 2*time.Second)
		return m.StartReplicaOf("")
	case "redis-busy":
		// A Lua script of 2 to 4 s: every other client is answered BUSY.
		m, _, err := r.master(ctx)
		if err != nil {
			return err
		}
		return harness.Busy(ctx, m.Addr(), 2*time.Second+time.Duration(r.rnd.Int64N(int64(2*time.Second))))
	case "redis-failover":
		// The master is SIGKILLed; the Sentinel promotes the replica (with
		// notifications off: its own configuration). The old master comes
		// back as the new one's replica and catches up.
		m, other, err := r.master(ctx)
		if err != nil {
			return err
		}
		if err := m.Kill(); err != nil {
			return err
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			if addr, err := r.sentinel.Master(ctx); err == nil && addr == other.Addr() {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the sentinel has not promoted %s after 60s", other.Addr())
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		r.pause(ctx, 500*time.Millisecond, 2*time.Second)
		if err := m.StartReplicaOf(other.Addr()); err != nil {
			return err
		}
		return harness.WaitReplicaSynced(ctx, m.Addr(), 60*time.Second)
	case "functions-kill":
		// Both functions: the upsert one (table vs Redis) and the append one
		// (duplicates in the history) each lose their batch in hand.
		for _, p := range r.fns {
			if err := p.Kill(); err != nil {
				return err
			}
		}
		r.pause(ctx, 500*time.Millisecond, 3*time.Second)
		for i, p := range r.fns {
			if err := p.Start(); err != nil {
				return err
			}
			if err := harness.WaitReady(ctx, p, r.fnHTTP[i], 60*time.Second); err != nil {
				return err
			}
		}
		return nil
	case "nats-restart":
		// One node (the only one without a cluster), stopped cleanly.
		n := r.nats.Nodes[r.rnd.IntN(len(r.nats.Nodes))]
		if err := n.Stop(10 * time.Second); err != nil {
			return err
		}
		r.pause(ctx, time.Second, 3*time.Second)
		return n.Start()
	case "nats-kill":
		// SIGKILL of one node of three: the others hold every acknowledged
		// message (R3), and it catches up when it comes back.
		n := r.nats.Nodes[r.rnd.IntN(len(r.nats.Nodes))]
		if err := n.Kill(); err != nil {
			return err
		}
		r.pause(ctx, time.Second, 3*time.Second)
		return n.Start()
	case "nats-stepdown":
		// The change stream's leader steps down: publishes in flight may
		// lose their PubAck.
		nc, err := nats.Connect(r.nats.URL())
		if err != nil {
			return err
		}
		defer nc.Close()
		// The answer can be lost with the leader that steps down: wait for
		// it a bounded time (the run once hung here for good).
		req, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err = nc.RequestWithContext(req, "$JS.API.STREAM.LEADER.STEPDOWN."+r.name, nil)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			r.log.Warn("no answer to the leader step-down request in 10s; going on", "stream", r.name)
			return nil
		}
		return err
	case "mariadb-cut":
		r.proxy.Cut()
		r.pause(ctx, 2*time.Second, 6*time.Second)
		r.proxy.Restore()
		return nil
	}
	return fmt.Errorf("unknown fault %q", kind)
}

// quiesce waits until the bridge has nothing queued, both consumers have
// nothing pending or unacked, and the stream has not grown for 3 s.
func (r *run) quiesce(ctx context.Context) error {
	nc, err := nats.Connect(r.nats.URL(), nats.MaxReconnects(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(r.opts.Quiesce)
	var last uint64
	var since time.Time
	for {
		ok, why := r.idle(ctx, js)
		if ok {
			m, err := harness.StreamMsgs(ctx, js, r.name)
			switch {
			case err != nil:
				ok, why = false, err.Error()
			case m != last || since.IsZero():
				last, since = m, time.Now()
				ok, why = false, "stream still growing"
			case time.Since(since) < 3*time.Second:
				ok = false
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not quiet after %s: %s", r.opts.Quiesce, why)
		}
		if !sleepUntil(ctx, time.Now().Add(200*time.Millisecond)) {
			return ctx.Err()
		}
	}
}

func (r *run) idle(ctx context.Context, js jetstream.JetStream) (bool, string) {
	for _, p := range append(slices.Clone(r.bridges), r.fns...) {
		if !p.Running() {
			return false, p.Name + " is not running"
		}
	}
	active := r.active()
	if active < 0 {
		return false, "no bridge is active"
	}
	if q, ok := harness.Metric("http://"+r.brHTTP[active]+"/metrics", "jetsync_bridge_queued_keys"); !ok || q != 0 {
		return false, fmt.Sprintf("the active bridge has %v keys queued", q)
	}
	for _, fn := range []string{"_upsert", "_append", "_journal"} {
		idle, err := harness.Idle(ctx, js, r.name, r.name+fn)
		if err != nil || !idle {
			return false, fmt.Sprintf("consumer %s not idle (%v)", r.name+fn, err)
		}
	}
	if n, err := r.rdb.XLen(ctx, "jetsync:journal:"+r.journal).Result(); err != nil || n != 0 {
		return false, fmt.Sprintf("journal holds %d entries (%v)", n, err)
	}
	return true, ""
}

// compare reads every key of the prefixes from Redis and every row of their
// tables and counts what differs; then the history's duplicates and the
// dead letters.
func (r *run) compare(ctx context.Context, s *Summary) error {
	mismatches, keys, rows, err := r.diff(ctx, r.name, r.table)
	if err != nil {
		return err
	}
	s.RedisKeys, s.Rows = keys, rows
	for _, m := range mismatches {
		if r.lostByRedis(r.name + ":" + m.ID) {
			s.LostByRedis++
			continue
		}
		switch Excuse(m, r.lastDelete, r.down) {
		case "down":
			s.ExcusedDown++
		case "queued":
			s.ExcusedQueued++
		default:
			s.Mismatches = append(s.Mismatches, m)
		}
	}
	// Journal mode: nothing is excused but what Redis itself lost.
	journal, keys, rows, err := r.diff(ctx, r.journal, r.journal)
	if err != nil {
		return err
	}
	s.JournalKeys, s.JournalRows = keys, rows
	for _, m := range journal {
		if r.lostByRedis(r.journal + ":" + m.ID) {
			s.LostByRedis++
			continue
		}
		s.JournalMismatches = append(s.JournalMismatches, m)
	}
	s.BridgeDown = covered(r.down)
	for _, iv := range r.down {
		s.LongestDown = max(s.LongestDown, iv.To.Sub(iv.From))
	}

	if err := r.db.QueryRowContext(ctx, "SELECT COUNT(*), COUNT(DISTINCT jetsync_seq) FROM "+r.history).Scan(&s.HistoryRows, &s.HistorySeqs); err != nil {
		return err
	}
	s.Duplicates = s.HistoryRows - s.HistorySeqs
	for i, addr := range r.fnHTTP {
		if r.fnMode[i] != r.name+"_append" {
			continue
		}
		if v, ok := harness.Metric("http://"+addr+"/metrics", `jetsync_function_changes_total{function="`+r.name+`_append",result="stale"}`); ok {
			s.HistoryStale += int(v)
		}
	}

	nc, err := nats.Connect(r.nats.URL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	// The notification prefix's changes only (not journal mode's, not the
	// bridges' epoch markers).
	st, err := js.Stream(ctx, r.name)
	if err != nil {
		return err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(change.Filter(r.name)))
	if err != nil {
		return err
	}
	for _, n := range info.State.Subjects {
		s.Published += int(n)
	}
	if s.Late, err = lateChanges(ctx, st, change.Filter(r.name)); err != nil {
		return fmt.Errorf("count the late changes: %w", err)
	}
	dl, err := harness.StreamMsgs(ctx, js, streams.DeadLetterStream(r.name))
	if err != nil {
		return err
	}
	s.DeadLetters = int(dl)
	return nil
}

func orNull(h map[string]string, f string) string {
	if v, ok := h[f]; ok {
		return v
	}
	return "NULL"
}

// covered is the time the intervals cover together (overlaps once).
func covered(ivs []Interval) time.Duration {
	ivs = slices.Clone(ivs)
	slices.SortFunc(ivs, func(a, b Interval) int { return a.From.Compare(b.From) })
	var total time.Duration
	var end time.Time
	for _, iv := range ivs {
		if iv.From.After(end) {
			total += iv.To.Sub(iv.From)
		} else if iv.To.After(end) {
			total += iv.To.Sub(end)
		}
		if iv.To.After(end) {
			end = iv.To
		}
	}
	return total
}

// sample reads every row's f1 every 200 ms until ctx ends. The load writes
// f1 = v<sequence>, rising per key, so a row whose f1 goes down is a stale
// change applied over a newer one.
func (r *run) sample(ctx context.Context, s *Summary) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
		for _, table := range []string{r.table, r.journal} {
			rows, err := r.db.QueryContext(ctx, "SELECT id, f1 FROM "+table)
			if err != nil {
				continue // MariaDB cut: the next sample
			}
			for rows.Next() {
				var id string
				var f1 sql.NullString
				if rows.Scan(&id, &f1) != nil || !f1.Valid {
					continue
				}
				bad, lost := observe(r.maxSeen, table+":"+id, f1.String, r.unconfirmedWrite)
				if bad != "" {
					s.Regressions = append(s.Regressions, bad)
				}
				if lost {
					s.LostByRedis++
				}
			}
			rows.Close()
		}
		s.Samples++
	}
}

// active returns the index of the bridge that holds the lease and is
// ready, or -1.
func (r *run) active() int {
	for i, b := range r.bridges {
		if !b.Running() {
			continue
		}
		if v, ok := harness.Metric("http://"+r.brHTTP[i]+"/metrics", "jetsync_bridge_active"); ok && v == 1 && harness.Ready("http://"+r.brHTTP[i]+"/readyz") {
			return i
		}
	}
	return -1
}

// waitActive waits until a bridge is active and returns its index.
func (r *run) waitActive(ctx context.Context, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		if i := r.active(); i >= 0 {
			return i, nil
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("no bridge active after %s (see the bridge logs)", timeout)
		}
		if !sleepUntil(ctx, time.Now().Add(50*time.Millisecond)) {
			return -1, ctx.Err()
		}
	}
}

// diff compares every key of prefix in Redis with table's rows.
func (r *run) diff(ctx context.Context, prefix, table string) (mismatches []Mismatch, keys, rows int, err error) {
	want := map[string][]string{}
	var cursor uint64
	for {
		ks, next, err := r.rdb.Scan(ctx, cursor, prefix+":*", 1000).Result()
		if err != nil {
			return nil, 0, 0, err
		}
		pipe := r.rdb.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(ks))
		for i, k := range ks {
			cmds[i] = pipe.HGetAll(ctx, k)
		}
		if _, err := pipe.Exec(ctx); err != nil && len(ks) > 0 {
			return nil, 0, 0, err
		}
		for i, k := range ks {
			h := cmds[i].Val()
			if len(h) == 0 {
				continue
			}
			want[strings.TrimPrefix(k, prefix+":")] = []string{orNull(h, "f1"), orNull(h, "f2"), orNull(h, "f3")}
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	got := map[string][]string{}
	res, err := r.db.QueryContext(ctx, "SELECT id, f1, f2, f3 FROM "+table)
	if err != nil {
		return nil, 0, 0, err
	}
	for res.Next() {
		var id string
		var f [3]sql.NullString
		if err := res.Scan(&id, &f[0], &f[1], &f[2]); err != nil {
			res.Close()
			return nil, 0, 0, err
		}
		v := make([]string, 3)
		for i, x := range f {
			v[i] = x.String
			if !x.Valid {
				v[i] = "NULL"
			}
		}
		got[id] = v
	}
	res.Close()
	if err := res.Err(); err != nil {
		return nil, 0, 0, err
	}
	ids := map[string]bool{}
	for id := range want {
		ids[id] = true
	}
	for id := range got {
		ids[id] = true
	}
	for id := range ids {
		w, g := want[id], got[id]
		if strings.Join(w, "\x00") == strings.Join(g, "\x00") && (w == nil) == (g == nil) {
			continue
		}
		mismatches = append(mismatches, Mismatch{ID: id, Redis: w, Table: g})
	}
	return mismatches, len(want), len(got), nil
}

// lateChanges counts the changes of filter stored after a newer epoch
// marker of their bridge's lease than their own: a partitioned bridge's late
// publishes, which the functions order before the newer generation's (a
// history may leave them out). It reads the stream's headers in order.
func lateChanges(ctx context.Context, st jetstream.Stream, filter string) (int, error) {
	epochs := change.EpochSubject("*")
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter, epochs}, HeadersOnly: true})
	if err != nil {
		return 0, err
	}
	// Every message of the filters is read: an empty fetch (a cluster
	// slow to serve a new consumer) is no end, so count against what the
	// consumer had to deliver.
	ci, err := cons.Info(ctx)
	if err != nil {
		return 0, err
	}
	want := ci.NumPending
	latest := map[string]uint64{} // marker subject -> its newest sequence read so far
	late := 0
	var read uint64
	for empty := 0; read < want; {
		b, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return 0, err
		}
		got := 0
		for m := range b.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil {
				return 0, err
			}
			if strings.HasPrefix(m.Subject(), strings.TrimSuffix(epochs, "*")) {
				latest[m.Subject()] = meta.Sequence.Stream
				continue
			}
			h := m.Headers()
			epoch, _ := strconv.ParseUint(h.Get(change.HeaderEpoch), 10, 64)
			if epoch != 0 && latest[h.Get(change.HeaderEpochSubject)] > epoch {
				late++
			}
		}
		read += uint64(got)
		if got == 0 {
			if empty++; empty == 15 {
				return 0, fmt.Errorf("read %d of the stream's %d changes and epoch markers; no more came in 30s", read, want)
			}
		}
	}
	return late, nil
}
