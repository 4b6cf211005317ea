package bench

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jetsync/jetsync/infra/harness"
)

// Drain is one end-to-end drain phase.
type Drain struct {
	Name    string `json:"name"`
	Changes int    `json:"changes"`
	Keys    int    `json:"keys"`
	// Published is how many messages the bridge stored (it coalesces keys
	// written again before it read them); Applied how many changes the
	// function wrote (it coalesces within a batch too).
	Published int `json:"published"`
	Applied   int `json:"applied"`
	// LoadSeconds: the loader's own time; FinalSeconds: until every key's
	// final value was committed; DrainSeconds: until every published change
	// was applied and acked and the bridge had nothing queued.
	LoadSeconds float64 `json:"load_seconds"`
	// PublishedSeconds: until the stream stopped growing (the bridge's
	// share of the drain).
	PublishedSeconds float64 `json:"published_seconds"`
	// BridgeMaxQueued is the most dirty keys the bridge held (sampled).
	BridgeMaxQueued int     `json:"bridge_max_queued_keys"`
	FinalSeconds    float64 `json:"final_seconds"`
	DrainSeconds    float64 `json:"drain_seconds"`
	// PerSec is Changes / DrainSeconds.
	PerSec  float64 `json:"changes_per_sec"`
	Ceiling Rate    `json:"mysql_ceiling"`
	// Ratio is the function's rows per second (Applied / DrainSeconds) to
	// the ceiling's.
	Ratio float64 `json:"ratio_to_mysql_ceiling"`
	// CPUPer1k is CPU seconds per 1,000 changes of each process during the
	// phase (bridge, function, nats-server, mariadbd, redis-server).
	CPUPer1k        map[string]float64 `json:"cpu_seconds_per_1k_changes"`
	FunctionPeakRSS int64              `json:"function_peak_rss_bytes"`
	// Batches the function fetched and the seconds it spent in successful
	// writes (transactions) to MariaDB, from its metrics.
	Batches      int     `json:"batches"`
	WriteSeconds float64 `json:"write_seconds"`
}

// load writes n HSETs, write i to key i % keys, in pipelines of 1,000.
func (e *env) load(ctx context.Context, prefix string, n, keys int) error {
	pipe := e.rdb.Pipeline()
	for i := range n {
		pipe.HSet(ctx, prefix+":"+strconv.Itoa(i%keys), fields(i, int64(i))...)
		if pipe.Len() == 1000 || i == n-1 {
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *env) count(ctx context.Context, query string, args ...any) (int, error) {
	var n int
	err := e.db.QueryRowContext(ctx, query, args...).Scan(&n)
	return n, err
}

// drain runs one drain phase with its own prefix, table and function.
func (e *env) drain(ctx context.Context, base string, n, keys int) (Drain, error) {
	d := Drain{Name: base, Changes: n, Keys: min(keys, n)}
	table, err := e.table(ctx, base)
	if err != nil {
		return d, err
	}
	fn, fnHTTP, err := e.startFunction(ctx, base, table)
	if err != nil {
		return d, err
	}
	prefix := "jsbench_" + e.run + "_" + base
	msgsBefore, err := harness.StreamMsgs(ctx, e.js, e.stream)
	if err != nil {
		return d, err
	}
	pids := others(e.ns)
	cpuBefore := cpuOf(pids)
	brBefore, _ := e.bridge.Stats()

	start := time.Now()
	// Watch the stream: when did it last grow?
	watchCtx, stopWatch := context.WithCancel(ctx)
	type watched struct {
		grew   time.Time
		queued int
	}
	grew := make(chan watched, 1)
	go func() {
		last, at, queued := msgsBefore, start, 0
		for watchCtx.Err() == nil {
			if m, err := harness.StreamMsgs(watchCtx, e.js, e.stream); err == nil && m != last {
				last, at = m, time.Now()
			}
			if q, ok := harness.Metric("http://"+e.brHTTP+"/metrics", "jetsync_bridge_queued_keys"); ok {
				queued = max(queued, int(q))
			}
			time.Sleep(10 * time.Millisecond)
		}
		grew <- watched{at, queued}
	}()
	if err := e.load(ctx, prefix, n, keys); err != nil {
		stopWatch()
		return d, err
	}
	d.LoadSeconds = time.Since(start).Seconds()
	// The last write of each key is one of the last d.Keys writes.
	defer stopWatch()
	final := func() (bool, error) {
		c, err := e.count(ctx, "SELECT COUNT(*) FROM "+table+" WHERE n >= ?", n-d.Keys)
		return c == d.Keys, err
	}
	at, err := waitFor(ctx, e.opts.Timeout, 10*time.Millisecond, 0, final)
	if err != nil {
		return d, fmt.Errorf("%s: final values: %w", base, err)
	}
	d.FinalSeconds = at.Sub(start).Seconds()
	// Drained: the bridge has nothing queued, the consumer nothing pending or
	// unacked, and the stream stays the same for 200 ms (no publish in flight).
	var lastMsgs uint64
	at, err = waitFor(ctx, e.opts.Timeout, 10*time.Millisecond, 200*time.Millisecond, func() (bool, error) {
		q, ok := harness.Metric("http://"+e.brHTTP+"/metrics", "jetsync_bridge_queued_keys")
		if !ok || q != 0 {
			return false, nil
		}
		idle, err := harness.Idle(ctx, e.js, e.stream, "jsbench_"+e.run+"_"+base)
		if err != nil || !idle {
			return false, err
		}
		m, err := harness.StreamMsgs(ctx, e.js, e.stream)
		same := m == lastMsgs
		lastMsgs = m
		return same, err
	})
	stopWatch()
	if err != nil {
		return d, fmt.Errorf("%s: drain: %w", base, err)
	}
	seen := <-grew
	d.PublishedSeconds = seen.grew.Sub(start).Seconds()
	d.BridgeMaxQueued = seen.queued
	d.DrainSeconds = at.Sub(start).Seconds()
	d.PerSec = float64(n) / d.DrainSeconds
	d.Published = int(lastMsgs - msgsBefore)
	if v, ok := harness.Metric("http://"+fnHTTP+"/metrics", `jetsync_function_changes_total{function="`+prefix+`",result="applied"}`); ok {
		d.Applied = int(v)
	}
	metric := func(name string) float64 {
		v, _ := harness.Metric("http://"+fnHTTP+"/metrics", name+`{function="`+prefix+`"}`)
		return v
	}
	d.Batches = int(metric("jetsync_function_batch_changes_count"))
	d.WriteSeconds = metric("jetsync_function_write_seconds_sum")

	d.CPUPer1k = map[string]float64{}
	for name, v := range cpuOf(pids) {
		d.CPUPer1k[name] = per1k(v-cpuBefore[name], n)
	}
	brAfter, _ := e.bridge.Stats()
	d.CPUPer1k["bridge"] = per1k(brAfter.CPUSeconds-brBefore.CPUSeconds, n)
	fs, err := fn.Stats()
	if err != nil {
		return d, err
	}
	d.CPUPer1k["function"] = per1k(fs.CPUSeconds, n)
	d.FunctionPeakRSS = fs.PeakRSS
	return d, fn.Stop(10 * time.Second)
}

// Latency is the paced phase: from the HSET to MariaDB writing the row.
type Latency struct {
	Rate     int     `json:"rate"`
	Seconds  float64 `json:"seconds"`
	Changes  int     `json:"changes"`
	Achieved float64 `json:"achieved_per_sec"`
	P50      float64 `json:"p50_ms"`
	P95      float64 `json:"p95_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
	// StatementP50 and StatementP99: to the upsert statement's start
	// instead of the commit.
	StatementP50 float64 `json:"statement_p50_ms"`
	StatementP99 float64 `json:"statement_p99_ms"`
	// CPUPer1k and FunctionPeakRSS as in Drain.
	CPUPer1k        map[string]float64 `json:"cpu_seconds_per_1k_changes"`
	FunctionPeakRSS int64              `json:"function_peak_rss_bytes"`
}

// latency writes Rate new keys per second for Duration, each carrying the
// time of its HSET (µs) in field n. A reader polls the table every 5 ms for
// rows from the oldest not yet seen on (an index on n), and a row's latency
// is when it first saw it — it is visible only once committed — minus n:
// to the commit, up to one poll late. MariaDB also stamps each row with
// CURRENT_TIMESTAMP(6), the upsert statement's start, reported beside it.
// Same machine, same clock.
func (e *env) latency(ctx context.Context) (Latency, error) {
	l := Latency{Rate: e.opts.Rate}
	table, err := e.table(ctx, "lat")
	if err != nil {
		return l, err
	}
	if _, err := e.db.ExecContext(ctx, "ALTER TABLE "+table+" ADD KEY (n)"); err != nil {
		return l, err
	}
	fn, _, err := e.startFunction(ctx, "lat", table)
	if err != nil {
		return l, err
	}
	prefix := "jsbench_" + e.run + "_lat"
	w := &commitWatch{seen: map[string]int64{}}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watched := make(chan error, 1)
	go func() { watched <- w.run(watchCtx, e.db, table) }()
	pids := others(e.ns)
	cpuBefore := cpuOf(pids)
	brBefore, _ := e.bridge.Stats()

	const tick = 5 * time.Millisecond
	start := time.Now()
	sent := 0
	t := time.NewTicker(tick)
	for now := start; now.Sub(start) < e.opts.Duration; now = <-t.C {
		due := int(float64(e.opts.Rate)*now.Sub(start).Seconds()) + 1 - sent
		if due <= 0 {
			continue
		}
		pipe := e.rdb.Pipeline()
		for range due {
			n := time.Now().UnixMicro()
			w.sent(strconv.Itoa(sent), n)
			pipe.HSet(ctx, prefix+":"+strconv.Itoa(sent), fields(sent, n)...)
			sent++
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Stop()
			return l, err
		}
	}
	t.Stop()
	l.Seconds = time.Since(start).Seconds()
	l.Changes = sent
	l.Achieved = float64(sent) / l.Seconds
	if _, err := waitFor(ctx, e.opts.Timeout, 50*time.Millisecond, 0, func() (bool, error) {
		c, err := e.count(ctx, "SELECT COUNT(*) FROM "+table)
		return c == sent, err
	}); err != nil {
		stopWatch()
		return l, fmt.Errorf("latency: rows: %w", err)
	}
	if _, err := waitFor(ctx, e.opts.Timeout, 10*time.Millisecond, 0, func() (bool, error) { return w.all(), nil }); err != nil {
		stopWatch()
		return l, fmt.Errorf("latency: the reader did not see every row: %w", err)
	}
	stopWatch()
	if err := <-watched; err != nil {
		return l, fmt.Errorf("latency: reader: %w", err)
	}
	commit := w.latencies()
	slices.Sort(commit)
	cq := func(p float64) float64 {
		return float64(commit[min(len(commit)-1, int(p*float64(len(commit))))]) / 1000
	}
	l.P50, l.P95, l.P99, l.Max = cq(0.50), cq(0.95), cq(0.99), float64(commit[len(commit)-1])/1000

	rows, err := e.db.QueryContext(ctx, "SELECT CAST(UNIX_TIMESTAMP(committed_at) * 1000000 AS SIGNED) - n FROM "+table)
	if err != nil {
		return l, err
	}
	defer rows.Close()
	var us []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return l, err
		}
		us = append(us, v)
	}
	if err := rows.Err(); err != nil {
		return l, err
	}
	slices.Sort(us)
	q := func(p float64) float64 { return float64(us[min(len(us)-1, int(p*float64(len(us))))]) / 1000 }
	l.StatementP50, l.StatementP99 = q(0.50), q(0.99)

	l.CPUPer1k = map[string]float64{}
	for name, v := range cpuOf(pids) {
		l.CPUPer1k[name] = per1k(v-cpuBefore[name], sent)
	}
	brAfter, _ := e.bridge.Stats()
	l.CPUPer1k["bridge"] = per1k(brAfter.CPUSeconds-brBefore.CPUSeconds, sent)
	fs, err := fn.Stats()
	if err != nil {
		return l, err
	}
	l.CPUPer1k["function"] = per1k(fs.CPUSeconds, sent)
	l.FunctionPeakRSS = fs.PeakRSS
	return l, fn.Stop(10 * time.Second)
}

// commitWatch is the latency phase's reader: when each row became visible.
type commitWatch struct {
	mu    sync.Mutex
	order []string         // ids in the order they were written (n rises)
	at    map[string]int64 // id -> n
	seen  map[string]int64 // id -> when the reader first saw its row (µs)
	next  int              // order[next] is the oldest row not yet seen
}

func (w *commitWatch) sent(id string, n int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.at == nil {
		w.at = map[string]int64{}
	}
	w.order = append(w.order, id)
	w.at[id] = n
}

// low is the n of the oldest row not yet seen (-1: none outstanding).
func (w *commitWatch) low() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.next < len(w.order) && w.seen[w.order[w.next]] != 0 {
		w.next++
	}
	if w.next == len(w.order) {
		return -1
	}
	return w.at[w.order[w.next]]
}

func (w *commitWatch) all() bool { return w.low() == -1 }

func (w *commitWatch) run(ctx context.Context, db *sql.DB, table string) error {
	for ctx.Err() == nil {
		if low := w.low(); low >= 0 {
			rows, err := db.QueryContext(ctx, "SELECT id FROM "+table+" WHERE n >= ?", low)
			if err != nil {
				return nil // ctx ended mid-query, or the run's own checks report it
			}
			now := time.Now().UnixMicro()
			w.mu.Lock()
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err == nil && w.seen[id] == 0 {
					w.seen[id] = now
				}
			}
			w.mu.Unlock()
			rows.Close()
		}
		time.Sleep(pollEvery)
	}
	return nil
}

// pollEvery is how often the latency phase's reader looks: every 2 ms cost
// the machine enough (a query returning every row since the oldest unseen)
// to slow the pipeline it measures.
const pollEvery = 5 * time.Millisecond

// latencies are seen - n of every row seen, in µs.
func (w *commitWatch) latencies() []int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]int64, 0, len(w.seen))
	for id, t := range w.seen {
		out = append(out, t-w.at[id])
	}
	return out
}
