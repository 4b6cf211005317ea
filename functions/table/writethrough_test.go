package table

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge"
	"github.com/jetsync/jetsync/bridge/writethrough"
	"github.com/jetsync/jetsync/infra/testenv"
)

// wtWorld runs a bridge with write-through on a fresh prefix and the table
// function into a table with first VARCHAR(8), behind a proxy that can cut
// MariaDB.
func wtWorld(t *testing.T, opts ...func(*bridge.Config)) (*world, string, string, *testenv.Proxy) {
	t.Helper()
	w := newWorld(t)
	prefix := w.Prefix("person")
	table := w.Table("persons", "person_id VARBINARY(255) PRIMARY KEY, first VARCHAR(8), last VARCHAR(255), age INT")
	cfg := w.BridgeConfig(prefix)
	cfg.WriteThrough = []string{prefix}
	for _, o := range opts {
		o(&cfg)
	}
	w.StartBridgeWith(cfg)
	proxy := testenv.NewProxy(t, testenv.MySQLAddr())
	w.startFunction(w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "first_name:first,last_name:last,age:age", proxy.Addr))
	return w, prefix, table, proxy
}

func TestWriteThrough(t *testing.T) {
	t.Parallel()
	w, prefix, table, proxy := wtWorld(t)
	ctx := context.Background()
	wt := writethrough.New(w.Redis)
	row := func(id string) []string { return personRow(t, w, table, id) }

	t.Run("committed before return", func(t *testing.T) {
		if err := wt.HSet(ctx, prefix+":1", "first_name", "Marek", "age", "27"); err != nil {
			t.Fatal(err)
		}
		// No waiting: the row and the cached key are there when HSet returns.
		if got := row("1"); len(got) != 1 || got[0] != "Marek|NULL|27" {
			t.Fatalf("row after HSet returned: %q", got)
		}
		if v := w.Redis.HGet(ctx, prefix+":1", "first_name").Val(); v != "Marek" {
			t.Fatalf("cached first_name %q after HSet returned", v)
		}
	})
	t.Run("partial update merges", func(t *testing.T) {
		w.Redis.HSet(ctx, prefix+":2", "first_name", "Ada", "last_name", "Lovelace", "age", "36")
		w.WaitRows(10*time.Second, []string{"Ada|Lovelace|36"}, "SELECT first, last, age FROM "+table+" WHERE person_id = '2'")
		if err := wt.HSet(ctx, prefix+":2", "age", "37"); err != nil {
			t.Fatal(err)
		}
		if got := row("2"); len(got) != 1 || got[0] != "Ada|Lovelace|37" {
			t.Fatalf("row %q, want the other fields kept", got)
		}
		if got := w.Redis.HGetAll(ctx, prefix+":2").Val(); got["last_name"] != "Lovelace" || got["age"] != "37" {
			t.Fatalf("cached %v", got)
		}
	})
	t.Run("permanent error returned, cache unchanged", func(t *testing.T) {
		w.Redis.HSet(ctx, prefix+":3", "first_name", "Bob")
		w.WaitRows(10*time.Second, []string{"Bob"}, "SELECT first FROM "+table+" WHERE person_id = '3'")
		err := wt.HSet(ctx, prefix+":3", "first_name", "Far too long for eight")
		var refused *writethrough.RefusedError
		if !errors.As(err, &refused) || refused.Reason == "" {
			t.Fatalf("HSet = %v, want a RefusedError with the database's reason", err)
		}
		if v := w.Redis.HGet(ctx, prefix+":3", "first_name").Val(); v != "Bob" {
			t.Fatalf("cached first_name %q, want Bob unchanged", v)
		}
		if got := row("3"); len(got) != 1 || got[0][:4] != "Bob|" {
			t.Fatalf("row %q, want Bob unchanged", got)
		}
	})
	t.Run("database down: pending, then applied", func(t *testing.T) {
		proxy.Cut()
		short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		err := wt.HSet(short, prefix+":4", "first_name", "Later")
		cancel()
		if !errors.Is(err, writethrough.ErrPending) {
			t.Fatalf("HSet with the database down = %v, want ErrPending", err)
		}
		if w.Redis.Exists(ctx, prefix+":4").Val() != 0 {
			t.Fatal("the cache shows a write the database does not have")
		}
		proxy.Restore()
		w.WaitRows(30*time.Second, []string{"Later"}, "SELECT first FROM "+table+" WHERE person_id = '4'")
		testenv.Eventually(t, 10*time.Second, func() error {
			if v := w.Redis.HGet(ctx, prefix+":4", "first_name").Val(); v != "Later" {
				return fmt.Errorf("cached %q, want Later once committed", v)
			}
			return nil
		})
	})
	t.Run("a retry after a timeout applies after the call it retries", func(t *testing.T) {
		key := prefix + ":6"
		proxy.Cut()
		for _, name := range []string{"First", "Retry"} {
			short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			err := wt.HSet(short, key, "first_name", name)
			cancel()
			if !errors.Is(err, writethrough.ErrPending) {
				t.Fatalf("HSet %s with the database down = %v, want ErrPending", name, err)
			}
		}
		proxy.Restore()
		w.WaitRows(30*time.Second, []string{"Retry"}, "SELECT first FROM "+table+" WHERE person_id = '6'")
		testenv.Eventually(t, 10*time.Second, func() error {
			if v := w.Redis.HGet(ctx, key, "first_name").Val(); v != "Retry" {
				return fmt.Errorf("cached %q, want the retry's value", v)
			}
			return nil
		})
		time.Sleep(500 * time.Millisecond) // a late completion of the first call would land now
		if v := w.Redis.HGet(ctx, key, "first_name").Val(); v != "Retry" {
			t.Fatalf("cached %q after both completed, want the retry's value", v)
		}
		if got := row("6"); len(got) != 1 || got[0][:6] != "Retry|" {
			t.Fatalf("row %q, want the retry's value", got)
		}
	})
	t.Run("order kept with write-behind", func(t *testing.T) {
		key := prefix + ":5"
		w.Redis.HSet(ctx, key, "first_name", "A", "age", "1")
		if err := wt.HSet(ctx, key, "age", "2"); err != nil {
			t.Fatal(err)
		}
		w.Redis.HSet(ctx, key, "first_name", "C")
		if err := wt.Del(ctx, prefix+":1"); err != nil {
			t.Fatal(err)
		}
		if got := row("1"); len(got) != 0 {
			t.Fatalf("row 1 after a write-through delete: %q", got)
		}
		w.WaitRows(10*time.Second, []string{"C||2"}, "SELECT first, COALESCE(last, ''), age FROM "+table+" WHERE person_id = '5'")
	})
}

// TestWriteThroughAnswersAfterCommit is the control of TestWriteThrough's
// "committed before return": the function process (a testhooks build)
// pauses 2 s before writing each batch, so a commit comes late. A
// write-through HSet still returns with the row in the table, because the
// function answers after the commit. The control answers before the commit
// (reply-before-commit): the call must return while the row is missing,
// and the row arrive only afterwards.
func TestWriteThroughAnswersAfterCommit(t *testing.T) {
	t.Parallel()
	bin := testenv.Build(t, "./cmd/jetsync-table", "testhooks")
	testenv.WithControl(t, "committed before return", "answered before commit", func(t *testing.T, control bool) {
		hooks := "JETSYNC_TEST_HOOKS=write-pause=2s"
		if control {
			hooks += ",reply-before-commit"
		}
		w := newWorld(t)
		prefix := w.Prefix("person")
		table := w.Table("persons", "person_id VARBINARY(255) PRIMARY KEY, first VARCHAR(8), last VARCHAR(255), age INT")
		cfg := w.BridgeConfig(prefix)
		cfg.WriteThrough = []string{prefix}
		w.StartBridgeWith(cfg)
		startBinary(t, bin, w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "first_name:first,age:age", testenv.MySQLAddr()), hooks)
		query := "SELECT first, age FROM " + table + " WHERE person_id = '1'"

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := writethrough.New(w.Redis).HSet(ctx, prefix+":1", "first_name", "Marek", "age", "27"); err != nil {
			t.Fatal(err)
		}
		got, err := w.Rows(query) // at once: no waiting
		if err != nil {
			t.Fatal(err)
		}
		if control {
			if len(got) != 0 {
				t.Fatalf("control: row %q already there when HSet returned, although the answer came before the commit; the test cannot see an early answer", got)
			}
			w.WaitRows(30*time.Second, []string{"Marek|27"}, query) // late, not lost
			return
		}
		if len(got) != 1 || got[0] != "Marek|27" {
			t.Fatalf("row after HSet returned: %q, want Marek|27", got)
		}
	})
}

// BenchmarkWriteThrough measures write-through calls from 32 concurrent
// callers: latency of the call (p50, p99) and calls per second.
//
//	go test -run '^$' -bench WriteThrough -benchtime 2000x ./functions/table/
func BenchmarkWriteThrough(b *testing.B) {
	w := newWorld(b)
	w.Quiet = true
	prefix := w.Prefix("person")
	table := w.Table("persons", "person_id VARBINARY(255) PRIMARY KEY, first VARCHAR(64), last VARCHAR(64), age INT")
	cfg := w.BridgeConfig(prefix)
	cfg.WriteThrough = []string{prefix}
	w.StartBridgeWith(cfg)
	fcfg := w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "first_name:first,age:age", testenv.MySQLAddr())
	fcfg.LogConfig.Level = "warn"
	w.startFunction(fcfg)
	wt := writethrough.New(w.Redis)
	ctx := context.Background()
	if err := wt.HSet(ctx, prefix+":warm", "age", "1"); err != nil {
		b.Fatal(err)
	}
	const callers = 32
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < b.N; i += callers {
				t0 := time.Now()
				if err := wt.HSet(ctx, fmt.Sprintf("%s:%d", prefix, i%500), "age", fmt.Sprint(i)); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
}

// TestWriteThroughCallOrder: write-through calls on one key apply in call
// order. On each of 50 keys a write-through HSET is staged and, before it
// is answered, a write-through delete: both are answered done, and the key
// and its row end deleted (the second call's outcome), never with the
// first call's data. Control: completing each call as its answer arrives
// (bridge.WithoutCallOrder) leaves keys holding the first call's data.
func TestWriteThroughCallOrder(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "call order", "answer order", func(t *testing.T, control bool) {
		var opts []func(*bridge.Config)
		if control {
			opts = []func(*bridge.Config){bridge.WithoutCallOrder}
		}
		wrong := writeThenDelete(t, opts...)
		switch {
		case !control && len(wrong) > 0:
			t.Fatalf("%d keys or rows of 50 end with the first call's data: %v", len(wrong), wrong[:min(len(wrong), 6)])
		case control && len(wrong) == 0:
			t.Fatal("control: every key ended deleted although calls completed in answer order; the test cannot see calls applied out of order")
		case control:
			t.Logf("control: %d keys or rows of 50 end with the first call's data", len(wrong))
		}
	})
}

// writeThenDelete stages a write-through HSET and then a write-through
// delete on each of 50 keys, waits for their answers (all done) and returns
// the keys and rows that did not end deleted.
func writeThenDelete(t *testing.T, opts ...func(*bridge.Config)) []string {
	w, prefix, table, _ := wtWorld(t, opts...)
	ctx := context.Background()
	const keys = 50
	var tokens []string
	for i := range keys {
		key := fmt.Sprintf("%s:%d", prefix, i)
		set, del := fmt.Sprintf("set%d%s", i, testenv.Name("")), fmt.Sprintf("del%d%s", i, testenv.Name(""))
		if err := w.Redis.FCall(ctx, "jetsync_write_through", []string{key}, set, "first_name", "First", "age", "1").Err(); err != nil {
			t.Fatal(err)
		}
		if err := w.Redis.FCall(ctx, "jetsync_write_through_del", []string{key}, del).Err(); err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, set, del)
	}
	for _, token := range tokens {
		res, err := w.Redis.XRead(ctx, &redis.XReadArgs{Streams: []string{"jetsync:reply:" + token, "0"}, Count: 1, Block: 30 * time.Second}).Result()
		if err != nil {
			t.Fatalf("answer of %s: %v", token, err)
		}
		if v := res[0].Messages[0].Values; v["status"] != "done" {
			t.Fatalf("answer of %s: %v", token, v)
		}
	}
	var wrong []string
	for i := range keys {
		key := fmt.Sprintf("%s:%d", prefix, i)
		if n := w.Redis.Exists(ctx, key).Val(); n != 0 {
			wrong = append(wrong, key+" still in Redis")
		}
		rows, err := w.Rows("SELECT first FROM "+table+" WHERE person_id = ?", fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 0 {
			wrong = append(wrong, fmt.Sprintf("%s's row %q still there", key, rows))
		}
	}
	return wrong
}
