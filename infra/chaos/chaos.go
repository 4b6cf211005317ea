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

	"github.com/jetsync/jetsync/infra/harness"
	"github.com/jetsync/jetsync/infra/platform"
)

// The table and the history table the two functions write.
const (
	columns  = "id VARCHAR(64) NOT NULL PRIMARY KEY, f1 VARCHAR(64), f2 VARCHAR(64), f3 VARCHAR(64)"
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

	bins    harness.Binaries
	redis   *harness.RedisServer // nil with -redis: an outside Redis
	ns      *harness.NATSServer
	proxy   *harness.Proxy
	bridge  *harness.Proc
	brHTTP  string
	fns     []*harness.Proc // upsert instances, then append instances
	fnHTTP  []string
	fnMode  []string
	rdb     *redis.Client
	db      *sql.DB
	table   string
	history string

	mu         sync.Mutex
	lastDelete map[string]time.Time
	down       []Interval
	// maxSeen is, per key, the highest load sequence the sampler read in
	// its row's f1.
	maxSeen map[string]int

	cleanups []func()
}

// Run runs the chaos suite and returns its summary; the caller decides
// what a failed summary means (Summary.OK). It cleans up after itself.
func Run(ctx context.Context, opts Options, log *slog.Logger) (*Summary, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Seed == 0 {
		opts.Seed = rand.Int64N(1 << 40)
	}
	r := &run{opts: opts, log: log, rnd: rand.New(rand.NewPCG(uint64(opts.Seed), 1)), name: harness.Name("jschaos"),
		lastDelete: map[string]time.Time{}, maxSeen: map[string]int{}}
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

// monitor records every interval in which no bridge is subscribed: killed
// or restarting, standing by for its lease, or stepped down because it
// could not renew its lease (a NATS restart longer than the lease TTL), or
// with subscriptions not confirmed. A bridge that is subscribed but cut
// from NATS still sees deletes (it queues and retries them), so that does
// not count. It polls every 50 ms and widens each interval by one poll on
// both sides.
func (r *run) monitor(ctx context.Context) {
	const every = 50 * time.Millisecond
	up := func() bool {
		if !r.bridge.Running() {
			return false
		}
		v, ok := harness.Metric("http://"+r.brHTTP+"/metrics", "jetsync_bridge_active")
		if !ok || v != 1 {
			return false
		}
		// Not connected to NATS is still subscribed (it queues and retries);
		// unconfirmed subscriptions and a Redis it cannot hear are not.
		code, body := harness.Get("http://" + r.brHTTP + "/readyz")
		return code == 200 || code == 503 && !strings.Contains(body, "subscriptions") && !strings.Contains(body, "keyspace notification")
	}
	var from time.Time // zero while up
	lastUp := time.Now()
	for {
		now := time.Now()
		ok := up()
		switch {
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
	r.rdb = redis.NewClient(&redis.Options{Addr: redisAddr})
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
	r.table, r.history = r.name, r.name+"_history"
	for name, cols := range map[string]string{r.table: columns, r.history: history} {
		if _, err := r.db.ExecContext(ctx, "CREATE TABLE "+name+" ("+cols+") DEFAULT CHARSET=utf8mb4"); err != nil {
			return err
		}
		r.onCleanup(func() { r.db.Exec("DROP TABLE " + name) })
	}
	if r.proxy, err = harness.NewProxy(r.opts.MySQLAddr); err != nil {
		return err
	}
	r.onCleanup(r.proxy.Close)

	if r.ns, err = harness.NewNATSServer(r.bins.NATSServer, filepath.Join(dir, "nats"), filepath.Join(dir, "nats.log")); err != nil {
		return err
	}
	if err := r.ns.Start(); err != nil {
		return err
	}
	r.onCleanup(func() { _ = r.ns.Stop(10 * time.Second) })

	if r.brHTTP, err = harness.HTTPAddr(); err != nil {
		return err
	}
	r.bridge = harness.NewBridge(r.bins.Bridge, harness.BridgeOptions{
		NATSURL: r.ns.URL(), Stream: r.name, Prefixes: r.name, HTTPAddr: r.brHTTP,
		Log: filepath.Join(dir, "bridge.log"), Extra: []string{"JETSYNC_REDIS_ADDR=" + redisAddr},
	})
	if err := r.bridge.Start(); err != nil {
		return err
	}
	r.onCleanup(func() { _ = r.bridge.Stop(10 * time.Second) })
	if err := harness.WaitBridge(ctx, r.bridge, r.brHTTP, 30*time.Second); err != nil {
		return err
	}
	for _, mode := range []string{"upsert", "append"} {
		fname := r.name + "_" + mode
		r.onCleanup(func() {
			r.db.Exec("DELETE FROM jetsync_applied WHERE function_name = ?", fname)
			r.db.Exec("DELETE FROM jetsync_checkpoints WHERE function_name = ?", fname)
		})
		for i := range r.opts.Instances {
			addr, err := harness.HTTPAddr()
			if err != nil {
				return err
			}
			table := map[string]string{"upsert": r.table, "append": r.history}[mode]
			p := harness.NewFunction(r.bins.Table, harness.FunctionOptions{
				Name: fname, Prefix: r.name, Stream: r.name, NATSURL: r.ns.URL(),
				Table: table, KeyColumn: "id", Mappings: mappings, Mode: mode,
				MySQLAddr: r.proxy.Addr, BatchSize: 200, HTTPAddr: addr, Log: filepath.Join(dir, fmt.Sprintf("%s-%d.log", mode, i+1)),
				// Redelivery after a SIGKILL within seconds; short retries after an outage.
				Extra: []string{"JETSYNC_ACK_WAIT=5s", "JETSYNC_RETRY_MAX=2s", "JETSYNC_MYSQL_TIMEOUT=2s"},
			})
			p.Name = fmt.Sprintf("%s function %d", mode, i+1)
			if err := p.Start(); err != nil {
				return err
			}
			r.onCleanup(func() { _ = p.Stop(10 * time.Second) })
			if err := harness.WaitReady(ctx, p, addr, 30*time.Second); err != nil {
				return err
			}
			r.fns = append(r.fns, p)
			r.fnHTTP = append(r.fnHTTP, addr)
			r.fnMode = append(r.fnMode, mode)
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
				touched[k] = true
				id := strconv.Itoa(k)
				key := r.name + ":" + id
				var err error
				p := rnd.IntN(100)
				switch {
				case p < 70:
					args := []any{"f1", "v" + strconv.Itoa(seq)}
					if rnd.IntN(2) == 0 {
						args = append(args, "f2", "w"+strconv.Itoa(seq))
					}
					if rnd.IntN(2) == 0 {
						args = append(args, "f3", "x"+strconv.Itoa(seq))
					}
					err = r.rdb.HSet(ctx, key, args...).Err()
					s.Upserts++
				case p < 85:
					err = r.rdb.HDel(ctx, key, []string{"f2", "f3"}[rnd.IntN(2)]).Err()
					s.Removals++
				default:
					// Only a DEL that removed the key raises an event; one of
					// a key already gone is not a deletion.
					var n int64
					n, err = r.rdb.Del(ctx, key).Result()
					if n == 1 {
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
		from := time.Now()
		stop := r.bridge.Kill
		if kind == "bridge-term" {
			// A clean stop hands its queued deletions over: nothing
			// before it is excused.
			stop = func() error { return r.bridge.Stop(30 * time.Second) }
		}
		if err := stop(); err != nil {
			return err
		}
		r.pause(ctx, 500*time.Millisecond, 3*time.Second)
		if err := r.bridge.Start(); err != nil {
			return err
		}
		err := harness.WaitBridge(ctx, r.bridge, r.brHTTP, 60*time.Second)
		r.mu.Lock()
		r.down = append(r.down, Interval{From: from, To: time.Now(), Killed: kind == "bridge-kill"})
		r.mu.Unlock()
		return err
	case "redis-restart":
		// SIGKILL: what Redis acknowledged is in its append-only file; the
		// notification setting the bridge made is not.
		if err := r.redis.Kill(); err != nil {
			return err
		}
		r.pause(ctx, 500*time.Millisecond, 2*time.Second)
		return r.redis.Start()
	case "redis-busy":
		// A Lua script of 2 to 4 s: every other client is answered BUSY.
		d := 2*time.Second + time.Duration(r.rnd.Int64N(int64(2*time.Second)))
		c := redis.NewClient(&redis.Options{Addr: r.redis.Addr(), ReadTimeout: d + 10*time.Second})
		defer c.Close()
		const script = `local t0 = redis.call('TIME')
while true do
  local t = redis.call('TIME')
  if (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > tonumber(ARGV[1]) then return 1 end
end`
		return c.Eval(ctx, script, nil, d.Microseconds()).Err()
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
		if err := r.ns.Stop(10 * time.Second); err != nil {
			return err
		}
		r.pause(ctx, time.Second, 3*time.Second)
		return r.ns.Start()
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
	nc, err := nats.Connect(r.ns.URL(), nats.MaxReconnects(-1))
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
	for _, p := range append([]*harness.Proc{r.bridge}, r.fns...) {
		if !p.Running() {
			return false, p.Name + " is not running"
		}
	}
	if v, ok := harness.Metric("http://"+r.brHTTP+"/metrics", "jetsync_bridge_active"); ok && v != 1 {
		return false, "bridge stands by"
	}
	if q, ok := harness.Metric("http://"+r.brHTTP+"/metrics", "jetsync_bridge_queued_keys"); !ok || q != 0 {
		return false, fmt.Sprintf("bridge has %v keys queued", q)
	}
	for _, mode := range []string{"upsert", "append"} {
		idle, err := harness.Idle(ctx, js, r.name, r.name+"_"+mode)
		if err != nil || !idle {
			return false, fmt.Sprintf("consumer %s not idle (%v)", mode, err)
		}
	}
	return true, ""
}

// compare reads every key of the prefix from Redis and every row of the
// table and counts what differs; then the history's duplicates and the
// dead letters.
func (r *run) compare(ctx context.Context, s *Summary) error {
	want := map[string][]string{}
	var cursor uint64
	for {
		keys, next, err := r.rdb.Scan(ctx, cursor, r.name+":*", 1000).Result()
		if err != nil {
			return err
		}
		pipe := r.rdb.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(keys))
		for i, k := range keys {
			cmds[i] = pipe.HGetAll(ctx, k)
		}
		if _, err := pipe.Exec(ctx); err != nil && len(keys) > 0 {
			return err
		}
		for i, k := range keys {
			h := cmds[i].Val()
			if len(h) == 0 {
				continue
			}
			want[strings.TrimPrefix(k, r.name+":")] = []string{orNull(h, "f1"), orNull(h, "f2"), orNull(h, "f3")}
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	got := map[string][]string{}
	rows, err := r.db.QueryContext(ctx, "SELECT id, f1, f2, f3 FROM "+r.table)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id string
		var f [3]sql.NullString
		if err := rows.Scan(&id, &f[0], &f[1], &f[2]); err != nil {
			rows.Close()
			return err
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
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	s.RedisKeys, s.Rows = len(want), len(got)
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
		m := Mismatch{ID: id, Redis: w, Table: g}
		switch Excuse(m, r.lastDelete, r.down) {
		case "down":
			s.ExcusedDown++
		case "queued":
			s.ExcusedQueued++
		default:
			s.Mismatches = append(s.Mismatches, m)
		}
	}
	s.BridgeDown = covered(r.down)

	if err := r.db.QueryRowContext(ctx, "SELECT COUNT(*), COUNT(DISTINCT jetsync_seq) FROM "+r.history).Scan(&s.HistoryRows, &s.HistorySeqs); err != nil {
		return err
	}
	s.Duplicates = s.HistoryRows - s.HistorySeqs
	for i, addr := range r.fnHTTP {
		if r.fnMode[i] != "append" {
			continue
		}
		if v, ok := harness.Metric("http://"+addr+"/metrics", `jetsync_function_changes_total{function="`+r.name+`_append",result="stale"}`); ok {
			s.HistoryStale += int(v)
		}
	}

	nc, err := nats.Connect(r.ns.URL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	n, err := harness.StreamMsgs(ctx, js, r.name)
	if err != nil {
		return err
	}
	s.Published = int(n)
	dl, err := harness.StreamMsgs(ctx, js, platform.DeadLetterStream(r.name))
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
		rows, err := r.db.QueryContext(ctx, "SELECT id, f1 FROM "+r.table)
		if err != nil {
			continue // MariaDB cut: the next sample
		}
		for rows.Next() {
			var id string
			var f1 sql.NullString
			if rows.Scan(&id, &f1) != nil || !f1.Valid {
				continue
			}
			if bad := observe(r.maxSeen, id, f1.String); bad != "" {
				s.Regressions = append(s.Regressions, bad)
			}
		}
		rows.Close()
		s.Samples++
	}
}
