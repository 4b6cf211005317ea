package handlers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/testenv"
)

// TestMaxDeliverDeadLetters: a change delivered more often than
// JETSYNC_MAX_DELIVER without being acked (here: three deliveries to an
// instance that died on it, each left unacked) is dead-lettered with the
// count in its reason instead of being tried again; the next change lands.
// The control (MaxDeliver 0) applies it.
func TestMaxDeliverDeadLetters(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "dead-lettered", "never", func(t *testing.T, control bool) {
		r := newRig(t)
		ctx := context.Background()
		r.publish("1", map[string]string{"name": "crashy"})
		cons, err := r.js.CreateOrUpdateConsumer(ctx, r.cfg.Stream, jetstream.ConsumerConfig{
			Durable: r.cfg.Name, FilterSubject: change.Filter(r.prefix), AckPolicy: jetstream.AckExplicitPolicy, AckWait: r.cfg.AckWait,
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 { // three instances that died holding it
			b, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for m := range b.Messages() {
				got++
				_ = m.Nak()
			}
			if got != 1 {
				t.Fatalf("delivery %d: %d messages", i+1, got)
			}
		}
		cfg := r.cfg
		cfg.MaxDeliver = 2
		if control {
			cfg.MaxDeliver = 0
		}
		r.start(cfg)
		r.publish("2", map[string]string{"name": "fine"})
		db := testenv.MySQL(t)
		testenv.Eventually(t, 20*time.Second, func() error {
			if r.name(db, "2") != "fine" {
				return fmt.Errorf("the next change has not landed")
			}
			return nil
		})
		if control {
			if got := r.name(db, "1"); got != "crashy" {
				t.Fatalf("control: row 1 = %q, want the change applied", got)
			}
			return
		}
		dls := r.deadLetters(1)
		if reason := dls[0].Header.Get(change.HeaderError); !strings.Contains(reason, "delivered 4 times") || !strings.Contains(reason, "JETSYNC_MAX_DELIVER=2") {
			t.Fatalf("reason %q", reason)
		}
		if got := r.name(db, "1"); got != "<none>" {
			t.Fatalf("row 1 = %q, want none", got)
		}
	})
}

// TestOversizedDeadLetterIsCut: a change as large as max_payload allows
// that the database refuses becomes a dead letter cut to fit (its headers
// would not fit beside the whole body), with its original size in
// Jetsync-Truncated; the function keeps flowing.
func TestOversizedDeadLetterIsCut(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	max := int(r.js.Conn().MaxPayload())
	c, err := change.New("p:big", change.Upsert, map[string]string{"name": "x", "age": "not a number"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := c.Encode()
	pad := strings.Repeat("y", max-len(body)-200)
	c.Fields["pad"] = pad
	body, _ = c.Encode()
	r.publishRaw(change.Subject("p", "big"), body)
	r.publish("after", map[string]string{"name": "fine"})
	r.start(r.cfg)
	dls := r.deadLetters(1)
	if got := dls[0].Header.Get(change.HeaderTruncated); got != fmt.Sprint(len(body)) {
		t.Fatalf("Jetsync-Truncated %q, want %d", got, len(body))
	}
	if !strings.Contains(dls[0].Header.Get(change.HeaderError), "age") {
		t.Fatalf("reason %q", dls[0].Header.Get(change.HeaderError))
	}
	db := testenv.MySQL(t)
	testenv.Eventually(t, 20*time.Second, func() error {
		if r.name(db, "after") != "fine" {
			return fmt.Errorf("the next change has not landed")
		}
		return nil
	})
}

// TestRefusedChangeFiledOnce: a change the function refuses (Batch.Fail)
// in a batch whose write then fails while the database is cut is
// dead-lettered once, not again at every retry.
func TestRefusedChangeFiledOnce(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "once", "no filed set", refusedFiledOnce)
}

func refusedFiledOnce(t *testing.T, control bool) {
	r := newRig(t)
	if control {
		r.hook = handlers.WithoutFiledSet
	}
	proxy := testenv.NewProxy(t, testenv.MySQLAddr())
	r.mysqlAddr = proxy.Addr
	cfg := r.cfg
	cfg.RetryMax = 100 * time.Millisecond
	fn := r.function()
	r.fn = handlers.FunctionFunc(func(ctx context.Context, b *handlers.Batch) error {
		var keep []handlers.Change
		for _, c := range b.Changes {
			if _, err := c.Int("age"); err != nil {
				b.Fail(c, err)
				continue
			}
			keep = append(keep, c)
		}
		b.Changes = keep
		return fn.Handle(ctx, b)
	})
	r.start(cfg)
	testenv.Eventually(t, 10*time.Second, r.runner.Ready)
	proxy.Cut()
	r.publish("1", map[string]string{"name": "ok", "age": "1"})
	r.publish("2", map[string]string{"name": "ok", "age": "x"}) // refused by the function
	r.publish("3", map[string]string{"name": "ok", "age": "3"})
	time.Sleep(3 * time.Second) // a few dozen retries
	proxy.Restore()
	db := testenv.MySQL(t)
	testenv.Eventually(t, 20*time.Second, func() error {
		if r.name(db, "3") != "ok" {
			return fmt.Errorf("the batch has not landed")
		}
		return nil
	})
	n := r.metric("jetsync_function_changes_total", `result="dead_lettered"`)
	switch {
	case control && n < 2:
		t.Fatalf("control: filed %v times without the filed set; the test cannot see a refiling", n)
	case !control && n != 1:
		t.Fatalf("dead letters filed %v times, want once", n)
	}
}

// TestFetchMaxBytesBoundsBatches: 40 changes of about 1 KiB each, waiting
// before the function starts, reach it in batches of at most
// JETSYNC_FETCH_MAX_BYTES (4 KiB here: 3 or 4 changes, so 10 batches or
// more); the control (8 MiB) takes them in one or two.
func TestFetchMaxBytesBoundsBatches(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "bounded", "8 MiB", func(t *testing.T, control bool) {
		r := newRig(t)
		for i := range 40 {
			r.publish(fmt.Sprint(i), map[string]string{"name": "n", "pad": strings.Repeat("x", 1000)})
		}
		cfg := r.cfg
		cfg.FetchMaxBytes = 4096
		if control {
			cfg.FetchMaxBytes = 8 << 20
		}
		r.start(cfg)
		testenv.Eventually(t, 20*time.Second, func() error {
			if n := r.count(); n != 40 {
				return fmt.Errorf("%d of 40 rows", n)
			}
			return nil
		})
		batches := r.metric("jetsync_function_batch_changes", fmt.Sprintf("function=%q", cfg.Name))
		switch {
		case !control && batches < 10:
			t.Fatalf("40 changes of 1 KiB in %v batches with a 4 KiB bound", batches)
		case control && batches > 2:
			t.Fatalf("control: 40 changes in %v batches with an 8 MiB bound", batches)
		}
	})
}

// TestOutageKeepsMessagesHeld: MariaDB unreachable for two ack waits
// while the function holds 50 changes. A probe fetching on the function's
// own consumer meanwhile must get none of them again: JetStream hands a
// held message to another puller only once its ack deadline passed, which
// the keep-alive (InProgress every AckWait/3) prevents. Afterwards every
// change is applied once, none found stale. The control (keep-alive off)
// must see the probe get redelivered messages.
func TestOutageKeepsMessagesHeld(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "held", "no keep-alive", func(t *testing.T, control bool) {
		r := newRig(t)
		proxy := testenv.NewProxy(t, testenv.MySQLAddr())
		r.mysqlAddr = proxy.Addr
		if control {
			r.hook = handlers.WithoutKeepAlive
		}
		cfg := r.cfg
		// 3 s: the keep-alive comes every second, with room for a
		// loaded machine's late timers.
		cfg.AckWait, cfg.RetryMax = 3*time.Second, 100*time.Millisecond
		r.start(cfg)
		testenv.Eventually(t, 10*time.Second, r.runner.Ready)
		proxy.Cut()
		for i := range 50 {
			r.publish(fmt.Sprint(i), map[string]string{"name": "n"})
		}
		ctx := context.Background()
		cons, err := r.js.Consumer(ctx, cfg.Stream, cfg.Name)
		if err != nil {
			t.Fatal(err)
		}
		redelivered := 0
		mine := map[uint64]bool{} // messages the probe got first (the runner had not fetched them)
		for end := time.Now().Add(2 * cfg.AckWait); time.Now().Before(end); {
			b, err := cons.Fetch(50, jetstream.FetchMaxWait(300*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			for m := range b.Messages() {
				meta, err := m.Metadata()
				if err != nil {
					t.Fatal(err)
				}
				if meta.NumDelivered == 1 {
					mine[meta.Sequence.Stream] = true
				} else if !mine[meta.Sequence.Stream] {
					redelivered++ // one the runner held
				}
				_ = m.Nak() // hand it back
			}
		}
		proxy.Restore()
		testenv.Eventually(t, 20*time.Second, func() error {
			if n := r.count(); n != 50 {
				return fmt.Errorf("%d of 50 rows", n)
			}
			return nil
		})
		if control {
			if redelivered == 0 {
				t.Fatal("control: the probe got no redelivered message without the keep-alive; the test cannot see a lapse")
			}
			return
		}
		if redelivered > 0 {
			t.Fatalf("the probe got %d messages the function held", redelivered)
		}
		label := fmt.Sprintf("function=%q", cfg.Name)
		testenv.Eventually(t, 10*time.Second, func() error {
			if n := r.metric("jetsync_function_changes_total", `result="applied"`); n != 50 {
				return fmt.Errorf("%v applied, want 50 (%s)", n, label)
			}
			return nil
		})
		if n := r.metric("jetsync_function_changes_total", `result="stale"`); n != 0 {
			t.Fatalf("%v changes found stale: something was delivered twice", n)
		}
	})
}

// historyTable keeps every change as a row keyed by its stream sequence.
type historyTable struct{ table string }

func (historyTable) KeepHistory() bool { return true }

func (h historyTable) Handle(_ context.Context, b *handlers.Batch) error {
	for _, c := range b.Changes {
		b.Upsert(h.table, []handlers.Column{{Name: "seq", Value: c.StreamSeq}}, []handlers.Column{{Name: "id", Value: c.ID}, {Name: "name", Value: c.Fields["name"]}})
	}
	return nil
}

// TestHistoryKeepsLateOlderChange: an instance takes change 1 of key k and
// dies holding it; the function applies change 2 of k, then gets change 1
// redelivered. A history function keeps it: both rows. The control tells
// changes apart by key and order, as an upsert function does, and refuses
// change 1 as stale: the history loses it.
func TestHistoryKeepsLateOlderChange(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "kept", "key and order", func(t *testing.T, control bool) {
		r := newRig(t)
		db := testenv.MySQL(t)
		hist := testenv.Name("hist")
		testenv.Exec(t, db, "CREATE TABLE "+hist+" (seq BIGINT PRIMARY KEY, id VARCHAR(64), name VARCHAR(8))")
		t.Cleanup(func() { db.Exec("DROP TABLE " + hist) })
		r.fn = historyTable{table: hist}
		if control {
			r.hook = handlers.WithKeyIDs
		}
		cfg := r.cfg
		cfg.AckWait = time.Second
		r.publish("k", map[string]string{"name": "one"})
		r.publish("k", map[string]string{"name": "two"})
		ctx := context.Background()
		cons, err := r.js.CreateOrUpdateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{
			Durable: cfg.Name, FilterSubject: change.Filter(r.prefix), AckPolicy: jetstream.AckExplicitPolicy, AckWait: cfg.AckWait,
		})
		if err != nil {
			t.Fatal(err)
		}
		b, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second)) // the instance that dies holding change 1
		if err != nil {
			t.Fatal(err)
		}
		for range b.Messages() {
		}
		r.start(cfg)
		rows := func() int {
			var n int
			if err := db.QueryRow("SELECT COUNT(*) FROM " + hist).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if control {
			testenv.Eventually(t, 20*time.Second, func() error {
				if n := r.metric("jetsync_function_changes_total", `result="stale"`); n != 1 {
					return fmt.Errorf("%v stale", n)
				}
				return nil
			})
			if n := rows(); n != 1 {
				t.Fatalf("control: %d history rows, want 1 (change 1 refused)", n)
			}
			return
		}
		testenv.Eventually(t, 20*time.Second, func() error {
			if n := rows(); n != 2 {
				return fmt.Errorf("%d history rows, want 2", n)
			}
			return nil
		})
		if n := r.metric("jetsync_function_changes_total", `result="stale"`); n != 0 {
			t.Fatalf("%v changes refused as stale", n)
		}
	})
}

// TestBlackholedDatabaseIsReported: the proxy to MariaDB stops forwarding
// and keeps the connections open (no RST), while changes wait. The
// function must not hang silently: it reports itself not ready within a
// few seconds (each attempt has 2/3 of AckWait; one running past AckWait/3
// is degraded), and catches up once the link heals. The control (no
// attempt deadline, no report) stays "ready" throughout, as it once did.
func TestBlackholedDatabaseIsReported(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "reported", "no deadline", func(t *testing.T, control bool) {
		r := newRig(t)
		proxy := testenv.NewProxy(t, testenv.MySQLAddr())
		r.mysqlAddr = proxy.Addr
		if control {
			r.hook = handlers.WithoutAttemptDeadline
		}
		cfg := r.cfg
		cfg.AckWait = 3 * time.Second
		r.start(cfg)
		r.publish("before", map[string]string{"name": "b"})
		testenv.Eventually(t, 10*time.Second, func() error {
			if r.count() != 1 {
				return fmt.Errorf("first row not written")
			}
			return r.runner.Ready()
		})
		proxy.Blackhole()
		for i := range 20 {
			r.publish(fmt.Sprint(i), map[string]string{"name": "n"})
		}
		if control {
			for end := time.Now().Add(2 * cfg.AckWait); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
				if err := r.runner.Ready(); err != nil {
					t.Fatalf("control: not ready (%v); without the deadline the function should have hung unseen", err)
				}
			}
			proxy.Heal()
			return
		}
		testenv.Eventually(t, 10*time.Second, func() error {
			if r.runner.Ready() == nil {
				return fmt.Errorf("still ready while the database is black-holed")
			}
			return nil
		})
		proxy.Heal()
		testenv.Eventually(t, 30*time.Second, func() error {
			if n := r.count(); n != 21 {
				return fmt.Errorf("%d of 21 rows", n)
			}
			return r.runner.Ready()
		})
	})
}

// TestLagKeepsMoving: while the database is cut, the function's lag in
// seconds keeps rising (it is read from the consumer every 2 s, not at
// batches, which stop), and falls back to 0 once the changes are applied;
// the dead-letter gauge counts the function's dead letters.
func TestLagKeepsMoving(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	proxy := testenv.NewProxy(t, testenv.MySQLAddr())
	r.mysqlAddr = proxy.Addr
	r.start(r.cfg)
	testenv.Eventually(t, 10*time.Second, r.runner.Ready)
	gauge := func(name string) float64 {
		mfs, err := r.runner.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	proxy.Cut()
	for i := range 20 {
		r.publish(fmt.Sprint(i), map[string]string{"name": "n"})
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		if lag := gauge("jetsync_function_lag_seconds"); lag < 3 {
			return fmt.Errorf("lag %.1fs while the database is cut, want it rising past 3s", lag)
		}
		return nil
	})
	proxy.Restore()
	testenv.Eventually(t, 20*time.Second, func() error {
		if lag := gauge("jetsync_function_lag_seconds"); lag != 0 {
			return fmt.Errorf("lag %.1fs after the database is back, want 0", lag)
		}
		return nil
	})
	r.publish("bad", map[string]string{"name": "far too long for VARCHAR(8)"})
	testenv.Eventually(t, 40*time.Second, func() error {
		if n := gauge("jetsync_function_dead_letters"); n != 1 {
			return fmt.Errorf("dead-letter gauge %v, want 1", n)
		}
		return nil
	})
}
