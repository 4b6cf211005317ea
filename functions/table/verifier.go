package table

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge"
	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/platform"
)

// tableReader is a sink whose table verify can read back: every SQL
// connector (sqlsink.Sink's methods), MongoDB and the Redis target. Its
// rows are walked by Page (keysetPager) or Scan (scanPager).
type tableReader interface {
	Rows(ctx context.Context, s connectors.Shape, keys [][]string) ([]connectors.Row, error)
	Count(ctx context.Context, table string) (int64, error)
	Probe(ctx context.Context, s connectors.Shape, ops []handlers.Op) ([]connectors.Row, error)
}

// keysetPager reads a table in key order, each page after the last key of
// the page before (the SQL connectors, MongoDB).
type keysetPager interface {
	Page(ctx context.Context, s connectors.Shape, after []string, n int) ([]connectors.Row, error)
}

// scanPager reads a table that has no order (the Redis target), each page
// from the cursor the page before returned: 0 begins, and 0 returned
// means that page was the last. A row may come twice, as a key may in a
// SCAN; a difference is reported once (candidates are by key).
type scanPager interface {
	Scan(ctx context.Context, s connectors.Shape, cursor uint64, n int) ([]connectors.Row, uint64, error)
}

// readerOf is sink as verify reads it, if it can.
func readerOf(sink handlers.Sink) (tableReader, bool) {
	db, ok := sink.(tableReader)
	_, keyset := sink.(keysetPager)
	_, scan := sink.(scanPager)
	return db, ok && (keyset || scan)
}

// How much verify reads at once: keys per SCAN and rows per page (also
// keys per lookup), rows per probe, bytes of Redis values.
const (
	verifyChunk      = 1000
	verifyProbe      = 500
	verifyBatchBytes = 8 << 20
)

// caughtUpWait bounds how long the recheck waits for the function to apply
// what the stream held when it began.
const caughtUpWait = time.Minute

// verifier walks Redis and the table. Two passes run side by side: the
// keys of the prefix (SCAN), each chunk read as the bridge reads it and
// looked up in the table (missing, different, bad); and the table's rows
// in key order (keyset pages), each page's keys looked up in Redis (gone).
// What they find is a candidate, kept on disk past a bound; after the
// settle time, and once the function has applied what the stream held,
// each candidate is judged again, and only what is still a difference is
// reported. Memory stays bounded by a chunk of keys and values, a page of
// rows and the candidates' bound.
type verifier struct {
	fn         Table
	prefix     string
	function   string
	kind       string // the prefix's value type
	shape      connectors.Shape
	rdb        redis.UniversalClient
	db         tableReader
	js         jetstream.JetStream // nil: no catching up to wait for
	stream     string
	maxPayload int64
	settle     time.Duration
	log        *slog.Logger

	keys, rows atomic.Int64
	rechecking atomic.Int64 // candidates to judge again (0: still walking)
	judged     atomic.Int64

	// Test hooks: noRecheck reports the first pass's candidates as they
	// are; beforeRecheck runs once the walk is done, before the settle.
	noRecheck     bool
	beforeRecheck func()
}

// judge says which of keys differ, reading each as the bridge would and
// its row as the function left it.
func (v *verifier) judge(ctx context.Context, keys []string, found func(Difference)) error {
	return v.retry(ctx, func() error {
		var out []Difference
		err := bridge.ReadValues(ctx, v.rdb, v.kind, keys, v.maxPayload, verifyBatchBytes, func(vals []bridge.Value) error {
			ds, err := v.judgeValues(ctx, vals)
			out = append(out, ds...)
			return err
		})
		if err != nil {
			return err
		}
		for _, d := range out {
			found(d)
		}
		return nil
	})
}

// judgeValues compares values with their rows: a key that cannot be a
// change is bad; a gone key with a row is gone; a key whose row holds
// other text than its mapped fields is probed: the write the function
// would make, rolled back, says whether the table's types make the values
// equal (different if not, missing without a row, bad if refused).
func (v *verifier) judgeValues(ctx context.Context, vals []bridge.Value) ([]Difference, error) {
	var out []Difference
	ids := make([][]string, 0, len(vals))
	for _, val := range vals {
		if val.Err != nil {
			out = append(out, Difference{Kind: change.Bad, Key: val.Key, Detail: val.Err.Error()})
			continue
		}
		ids = append(ids, []string{v.id(val.Key)})
	}
	rows, err := v.db.Rows(ctx, v.shape, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]connectors.Row, len(rows))
	for _, r := range rows {
		byID[r.Key[0]] = r
	}
	var probe []bridge.Value
	for _, val := range vals {
		if val.Err != nil {
			continue
		}
		row, ok := byID[v.id(val.Key)]
		switch {
		case val.Fields == nil && ok:
			out = append(out, Difference{Kind: change.Gone, Key: val.Key, Detail: "no key in Redis"})
		case val.Fields == nil:
		case !ok || !sameText(row.Values, v.fn.Mapping.Values(val.Fields)):
			probe = append(probe, val)
		}
	}
	for start := 0; start < len(probe); start += verifyProbe {
		ds, err := v.probe(ctx, probe[start:min(start+verifyProbe, len(probe))], byID)
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	return out, nil
}

// probe writes vals as the function would in a rolled-back transaction and
// compares what it leaves with the rows as they are; when the database
// refuses the write for good it halves vals until each refused key stands
// alone: a bad key.
func (v *verifier) probe(ctx context.Context, vals []bridge.Value, current map[string]connectors.Row) ([]Difference, error) {
	ops := make([]handlers.Op, len(vals))
	for i, val := range vals {
		ops[i] = handlers.Op{Table: v.fn.Name, Key: []handlers.Column{{Name: v.fn.KeyColumn, Value: v.id(val.Key)}}, Values: v.fn.Mapping.Values(val.Fields)}
	}
	probed, err := v.db.Probe(ctx, v.shape, ops)
	if errors.Is(err, handlers.ErrPermanent) {
		if len(vals) == 1 {
			return []Difference{{Kind: change.Bad, Key: vals[0].Key, Detail: "the table refuses it: " + err.Error()}}, nil
		}
		half := len(vals) / 2
		a, err := v.probe(ctx, vals[:half], current)
		if err != nil {
			return nil, err
		}
		b, err := v.probe(ctx, vals[half:], current)
		return append(a, b...), err
	}
	if err != nil {
		return nil, err
	}
	after := make(map[string]connectors.Row, len(probed))
	for _, r := range probed {
		after[r.Key[0]] = r
	}
	var out []Difference
	for _, val := range vals {
		id := v.id(val.Key)
		row, had := current[id]
		want, ok := after[id]
		switch {
		case !ok:
			out = append(out, Difference{Kind: change.Bad, Key: val.Key, Detail: "the function's write leaves no row with this key"})
		case !had:
			out = append(out, Difference{Kind: change.Missing, Key: val.Key, Detail: "no row"})
		case !sameValues(row.Values, want.Values):
			out = append(out, Difference{Kind: change.Different, Key: val.Key, Detail: v.describe(row.Values, want.Values, val.Fields)})
		}
	}
	return out, nil
}

// id is a key's id: what its row's key column holds.
func (v *verifier) id(key string) string { return key[len(v.prefix)+1:] }

// sameText reports whether a row's values are the mapped fields' text.
func sameText(row []sql.NullString, mapped []handlers.Column) bool {
	for i, c := range mapped {
		s, isText := c.Value.(string)
		if !isText && row[i].Valid || isText && (!row[i].Valid || row[i].String != s) {
			return false
		}
	}
	return true
}

func sameValues(a, b []sql.NullString) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// describe names the columns whose row value differs from what the key's
// fields make of it.
func (v *verifier) describe(row, want []sql.NullString, fields map[string]string) string {
	var parts []string
	for i, fc := range v.fn.Mapping {
		if row[i] == want[i] {
			continue
		}
		redisText := "none (NULL)"
		if f, ok := fields[fc.Field]; ok {
			redisText = quoteShort(f)
		}
		rowText := "NULL"
		if row[i].Valid {
			rowText = quoteShort(row[i].String)
		}
		parts = append(parts, fmt.Sprintf("%s: row %s, Redis %s", fc.Column, rowText, redisText))
	}
	return strings.Join(parts, "; ")
}

// quoteShort quotes s, cut to 60 bytes.
func quoteShort(s string) string {
	if len(s) > 60 {
		return strconv.Quote(s[:60]) + "..."
	}
	return strconv.Quote(s)
}

// walkKeys scans the prefix's keys on every master and judges them a SCAN
// reply at a time.
func (v *verifier) walkKeys(ctx context.Context, found func(Difference)) error {
	var nodes []*redis.Client
	err := v.retry(ctx, func() (err error) {
		nodes, err = bridge.Masters(ctx, v.rdb)
		return err
	})
	if err != nil {
		return err
	}
	for _, node := range nodes {
		var cursor uint64
		for {
			var keys []string
			var next uint64
			err := v.retry(ctx, func() (err error) {
				keys, next, err = node.Scan(ctx, cursor, v.prefix+":*", verifyChunk).Result()
				return err
			})
			if err != nil {
				return fmt.Errorf("scan the keys of %s: %w", v.prefix, err)
			}
			if err := v.judge(ctx, keys, found); err != nil {
				return err
			}
			v.keys.Add(int64(len(keys)))
			if next == 0 {
				break
			}
			cursor = next
		}
	}
	return nil
}

// walkRows pages through the table and finds the rows whose key is not in
// Redis.
func (v *verifier) walkRows(ctx context.Context, found func(Difference)) error {
	next := v.pages()
	for {
		var page []connectors.Row
		var more bool
		err := v.retry(ctx, func() (err error) {
			page, more, err = next(ctx)
			return err
		})
		if err != nil {
			return err
		}
		if err := v.gone(ctx, page, found); err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

// gone finds the rows of page whose key is not in Redis (pipelined
// EXISTS).
func (v *verifier) gone(ctx context.Context, page []connectors.Row, found func(Difference)) error {
	if len(page) == 0 {
		return nil
	}
	var exists []*redis.IntCmd
	err := v.retry(ctx, func() error {
		pipe := v.rdb.Pipeline()
		exists = make([]*redis.IntCmd, len(page))
		for i, r := range page {
			exists[i] = pipe.Exists(ctx, v.prefix+":"+r.Key[0])
		}
		_, err := pipe.Exec(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("look the table's keys up in Redis: %w", err)
	}
	for i, r := range page {
		if exists[i].Val() == 0 {
			found(Difference{Kind: change.Gone, Key: v.prefix + ":" + r.Key[0], Detail: "no key in Redis"})
		}
	}
	v.rows.Add(int64(len(page)))
	return nil
}

// pages returns a function that reads the table's next page each time it
// is called, and whether there may be more; a call that fails can be made
// again. A keysetPager's pages come in key order, each after the last key
// of the one before (an empty page is the end); a scanPager's follow its
// cursor.
func (v *verifier) pages() func(context.Context) ([]connectors.Row, bool, error) {
	if db, ok := v.db.(keysetPager); ok {
		var after []string
		return func(ctx context.Context) ([]connectors.Row, bool, error) {
			page, err := db.Page(ctx, v.shape, after, verifyChunk)
			if err != nil || len(page) == 0 {
				return nil, false, err
			}
			after = page[len(page)-1].Key
			return page, true, nil
		}
	}
	db := v.db.(scanPager)
	var cursor uint64
	return func(ctx context.Context) ([]connectors.Row, bool, error) {
		page, next, err := db.Scan(ctx, v.shape, cursor, verifyChunk)
		if err != nil {
			return nil, false, err
		}
		cursor = next
		return page, next != 0, nil
	}
}

// retry runs f again after a transient error (a server briefly away), up to
// 5 times with backoff; a permanent error is returned at once.
func (v *verifier) retry(ctx context.Context, f func() error) error {
	backoff := platform.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || errors.Is(err, handlers.ErrPermanent) || ctx.Err() != nil || attempt == 5 {
			return err
		}
		v.log.Warn("verify: a read failed; retrying", "err", err)
		if !backoff.Wait(ctx) {
			return err
		}
	}
}

// run walks both sides, rechecks what they found and hands every confirmed
// difference to confirmed. It returns the confirmed counts by kind, the
// examples, and how many candidates were rechecked.
func (v *verifier) run(ctx context.Context, nExamples int, confirmed func(Difference) error) (map[string]int64, map[string][]Difference, int64, error) {
	cands := &candidates{seen: map[string]bool{}}
	defer cands.close()
	walk, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, pass := range []func(context.Context, func(Difference)) error{v.walkKeys, v.walkRows} {
		wg.Go(func() {
			if errs[i] = pass(walk, cands.add); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, 0, err
	}
	if err := cands.err(); err != nil {
		return nil, nil, 0, err
	}

	counts := make(map[string]int64, len(change.Kinds))
	for _, k := range change.Kinds {
		counts[k] = 0 // every kind, for scripts reading the JSON
	}
	ex := &examples{n: nExamples, got: map[string][]Difference{}}
	take := func(d Difference) error {
		counts[d.Kind]++
		ex.add(d)
		return confirmed(d)
	}
	if cands.n == 0 {
		return counts, ex.got, 0, nil
	}
	if v.beforeRecheck != nil {
		v.beforeRecheck()
	}
	if v.noRecheck {
		return counts, ex.got, 0, cands.each(func(ds []Difference) error {
			for _, d := range ds {
				if err := take(d); err != nil {
					return err
				}
			}
			return nil
		})
	}
	v.rechecking.Store(cands.n)
	v.log.Info("verify: checking the differences again once settled", "candidates", cands.n, "settle", v.settle)
	select {
	case <-ctx.Done():
		return nil, nil, 0, ctx.Err()
	case <-time.After(v.settle):
	}
	v.waitCaughtUp(ctx)
	err := cands.each(func(ds []Difference) error {
		keys := make([]string, 0, len(ds))
		seen := make(map[string]bool, len(ds))
		for _, d := range ds {
			if !seen[d.Key] {
				seen[d.Key] = true
				keys = append(keys, d.Key)
			}
		}
		var again []Difference
		if err := v.judge(ctx, keys, func(d Difference) { again = append(again, d) }); err != nil {
			return err
		}
		v.judged.Add(int64(len(ds)))
		for _, d := range again {
			if err := take(d); err != nil {
				return err
			}
		}
		return nil
	})
	return counts, ex.got, cands.n, err
}

// waitCaughtUp waits, for at most caughtUpWait, until the function's
// consumer has acknowledged the last change of the prefix the stream
// holds now, so that a key written while verify ran has reached the table.
// Without the stream or the consumer there is nothing to wait for.
func (v *verifier) waitCaughtUp(ctx context.Context) {
	if v.js == nil {
		return
	}
	s, err := v.js.Stream(ctx, v.stream)
	if err != nil {
		return
	}
	last, err := s.GetLastMsgForSubject(ctx, change.Filter(v.prefix))
	if err != nil {
		return // no change of the prefix
	}
	cons, err := v.js.Consumer(ctx, v.stream, v.function)
	if err != nil {
		v.log.Warn("verify: the function has no consumer: differences are not its backlog", "function", v.function, "err", err)
		return
	}
	deadline := time.Now().Add(caughtUpWait)
	for {
		info, err := cons.Info(ctx)
		if err == nil && info.AckFloor.Stream >= last.Sequence {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			pending := "unknown"
			if err == nil {
				pending = strconv.FormatUint(info.NumPending+uint64(info.NumAckPending), 10)
			}
			v.log.Warn("verify: the function has not caught up; what it has not applied yet may show as differences", "function", v.function, "pending", pending, "waited", caughtUpWait)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// progress writes how far the walk is until stop is called: a bar redrawn
// on a terminal, a line a second otherwise. total estimates the work: the
// rows counted at the start, once for the keys and once for the rows.
func (v *verifier) progress(w io.Writer, total int64) (stop func()) {
	tty := platform.IsTerminal(w)
	every := time.Second
	if tty {
		every = 250 * time.Millisecond
	}
	label := "verify " + v.function
	began := time.Now()
	done := make(chan struct{})
	stopped := make(chan struct{})
	show := func() {
		if n := v.rechecking.Load(); n > 0 {
			line := platform.ProgressLine(label+" recheck", uint64(v.judged.Load()), uint64(n), 0, began, tty)
			if tty {
				fmt.Fprintf(w, "\r%s", line)
			} else {
				fmt.Fprintln(w, line)
			}
			return
		}
		d := uint64(v.keys.Load() + v.rows.Load())
		t := uint64(max(2*total, 1))
		line := platform.ProgressLine(label, min(d, t), t, 0, began, tty)
		if tty {
			fmt.Fprintf(w, "\r%s", line)
		} else {
			fmt.Fprintln(w, line)
		}
	}
	go func() {
		defer close(stopped)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				if tty {
					show()
					fmt.Fprintln(w)
				}
				return
			case <-tick.C:
				show()
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// candidates holds what the first pass found: in memory up to a bound,
// then in a temporary file, so that a table that differs everywhere does
// not fill the memory. A key found twice while in memory is kept once.
type candidates struct {
	mu     sync.Mutex
	mem    []Difference
	seen   map[string]bool
	file   *os.File
	w      *bufio.Writer
	n      int64
	failed error
}

// candidatesInMemory bounds the candidates kept in memory.
const candidatesInMemory = 20000

func (c *candidates) add(d Difference) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[d.Key] || c.failed != nil {
		return
	}
	c.n++
	if len(c.mem) < candidatesInMemory {
		c.seen[d.Key] = true
		c.mem = append(c.mem, d)
		return
	}
	if c.file == nil {
		if c.file, c.failed = os.CreateTemp("", "jetsync-verify-*"); c.failed != nil {
			c.failed = fmt.Errorf("more than %d differences: a file to keep them: %w", candidatesInMemory, c.failed)
			return
		}
		c.w = bufio.NewWriter(c.file)
	}
	b, _ := json.Marshal(d)
	_, _ = c.w.Write(append(b, '\n'))
}

func (c *candidates) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed
}

// each calls f with the candidates, up to verifyChunk at a time.
func (c *candidates) each(f func([]Difference) error) error {
	for start := 0; start < len(c.mem); start += verifyChunk {
		if err := f(c.mem[start:min(start+verifyChunk, len(c.mem))]); err != nil {
			return err
		}
	}
	if c.file == nil {
		return nil
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	if _, err := c.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	sc := bufio.NewScanner(c.file)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	chunk := make([]Difference, 0, verifyChunk)
	for sc.Scan() {
		var d Difference
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return err
		}
		if chunk = append(chunk, d); len(chunk) == verifyChunk {
			if err := f(chunk); err != nil {
				return err
			}
			chunk = chunk[:0]
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(chunk) > 0 {
		return f(chunk)
	}
	return nil
}

func (c *candidates) close() {
	if c.file != nil {
		c.file.Close()
		os.Remove(c.file.Name())
	}
}
