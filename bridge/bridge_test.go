package bridge

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/infra/testenv"
)

// recorder collects every message the stream stores for a prefix.
type recorder struct {
	mu   sync.Mutex
	msgs []jetstream.Msg
}

// carried checks that the last change recorded for key has field n = v.
func (r *recorder) carried(t *testing.T, key, v string) func() error {
	return func() error {
		all := r.changes(t, key)
		if len(all) == 0 || all[len(all)-1].Fields["n"] != v {
			return fmt.Errorf("%s=%s not carried", key, v)
		}
		return nil
	}
}

func (r *recorder) changes(t *testing.T, key string) []change.Change {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []change.Change
	for _, m := range r.msgs {
		c, err := change.Decode(m.Data())
		if err != nil {
			t.Fatalf("stored message %s does not decode: %v", m.Subject(), err)
		}
		if c.Key == key {
			out = append(out, c)
		}
	}
	return out
}

// last returns the last stored change of every key.
func (r *recorder) last(t *testing.T) map[string]change.Change {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]change.Change{}
	for _, m := range r.msgs {
		c, err := change.Decode(m.Data())
		if err != nil {
			t.Fatalf("stored message %s does not decode: %v", m.Subject(), err)
		}
		out[c.Key] = c
	}
	return out
}

// runBridge starts a bridge with cfg and records what it stores.
func runBridge(t *testing.T, cfg Config) *recorder {
	t.Helper()
	startBridge(t, cfg)
	return recordStream(t, cfg)
}

// startBridge starts a bridge with cfg until the test ends and waits until
// it is ready.
func startBridge(t *testing.T, cfg Config) *Bridge {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b, err := New(ctx, cfg, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	// Writes made before the subscription are only found by a resync, and
	// a resync sees only keys of the prefix's type: wait for it.
	testenv.Eventually(t, 10*time.Second, b.Ready)
	return b
}

// recordStream records every message the stream of cfg stores.
func recordStream(t *testing.T, cfg Config) *recorder {
	t.Helper()
	ctx := context.Background()
	nc, err := nats.Connect(cfg.NATS.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	var cons jetstream.Consumer
	testenv.Eventually(t, 10*time.Second, func() error { // the stream may not exist yet
		cons, err = js.OrderedConsumer(ctx, cfg.StreamConfig.Name, jetstream.OrderedConsumerConfig{})
		return err
	})
	rec := &recorder{}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if strings.HasPrefix(m.Subject(), "jetsync.$") {
			return // epoch markers: not changes
		}
		rec.mu.Lock()
		rec.msgs = append(rec.msgs, m)
		rec.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return rec
}

// waitFor waits until key's last stored change satisfies ok.
func (r *recorder) waitFor(t *testing.T, key string, ok func(last change.Change, all []change.Change) error) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() error {
		all := r.changes(t, key)
		if len(all) == 0 {
			return fmt.Errorf("no change of %s stored", key)
		}
		return ok(all[len(all)-1], all)
	})
}

func TestBridgePublishes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testenv.Redis(t)
	prefix := testenv.Name("p")
	testenv.DeletePrefix(t, rdb, prefix)
	cfg := testConfig(testenv.RedisAddr(), testenv.NATS(t), prefix)
	rec := runBridge(t, cfg)

	t.Run("hset is an upsert of the whole hash", func(t *testing.T) {
		key := prefix + ":1"
		rdb.HSet(ctx, key, "a", "1", "b", "2")
		rdb.HSet(ctx, key, "c", "3")
		rec.waitFor(t, key, func(last change.Change, _ []change.Change) error {
			if last.Op != change.Upsert || fmt.Sprint(last.Fields) != "map[a:1 b:2 c:3]" || last.ID != "1" || last.Prefix != prefix {
				return fmt.Errorf("last change %+v", last)
			}
			return nil
		})
		rec.mu.Lock()
		m := rec.msgs[len(rec.msgs)-1]
		rec.mu.Unlock()
		if m.Headers().Get(jetstream.MsgIDHeader) == "" {
			t.Fatal("stored message has no Nats-Msg-Id")
		}
	})
	t.Run("hdel drops the field", func(t *testing.T) {
		key := prefix + ":2"
		rdb.HSet(ctx, key, "a", "1", "b", "2")
		rdb.HDel(ctx, key, "a")
		rec.waitFor(t, key, func(last change.Change, _ []change.Change) error {
			if fmt.Sprint(last.Fields) != "map[b:2]" {
				return fmt.Errorf("last change %+v", last)
			}
			return nil
		})
	})
	t.Run("del and unlink are deletes", func(t *testing.T) {
		for _, key := range []string{prefix + ":3", prefix + ":4"} {
			rdb.HSet(ctx, key, "a", "1")
		}
		rdb.Del(ctx, prefix+":3")
		rdb.Unlink(ctx, prefix+":4")
		for _, key := range []string{prefix + ":3", prefix + ":4"} {
			rec.waitFor(t, key, func(last change.Change, _ []change.Change) error {
				if last.Op != change.Delete || len(last.Fields) != 0 {
					return fmt.Errorf("last change %+v", last)
				}
				return nil
			})
		}
	})
	t.Run("ids that are not subject tokens", func(t *testing.T) {
		for _, id := range []string{"a.b", "x y", "*", ">", "Łódź", "a:b:c"} {
			key := prefix + ":" + id
			rdb.HSet(ctx, key, "v", id)
			rec.waitFor(t, key, func(last change.Change, _ []change.Change) error {
				if last.ID != id || last.Fields["v"] != id {
					return fmt.Errorf("last change %+v", last)
				}
				return nil
			})
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, m := range rec.msgs {
			_, id, err := change.ParseSubject(m.Subject())
			if err != nil {
				t.Fatal(err)
			}
			c, _ := change.Decode(m.Data())
			if id != c.ID {
				t.Fatalf("subject %q decodes to id %q, body says %q", m.Subject(), id, c.ID)
			}
		}
	})
	// Per-key order runs on bridges of its own, with its control: keys
	// dealt round robin to the workers, the first of which lags before it
	// publishes, must see a key's older state stored after a newer one.
	t.Run("per-key order", func(t *testing.T) {
		testenv.WithControl(t, "sharded by key", "dealt round robin", func(t *testing.T, control bool) {
			prefix := testenv.Name("p")
			testenv.DeletePrefix(t, rdb, prefix)
			cfg := testConfig(testenv.RedisAddr(), testenv.NATS(t), prefix)
			cfg.hooks.unsharded = control
			rec := runBridge(t, cfg)
			key := prefix + ":counter"
			for range 300 {
				rdb.HIncrBy(ctx, key, "n", 1)
			}
			// wentBack says where n, stored in stream order, went back.
			wentBack := func(all []change.Change) error {
				prev := 0
				for _, c := range all {
					n, _ := strconv.Atoi(c.Fields["n"])
					if n < prev {
						return fmt.Errorf("n went back from %d to %d", prev, n)
					}
					prev = n
				}
				return nil
			}
			rec.waitFor(t, key, func(last change.Change, _ []change.Change) error {
				if last.Fields["n"] != "300" {
					return fmt.Errorf("last n=%s", last.Fields["n"])
				}
				return nil
			})
			time.Sleep(3 * time.Second) // an older state published late is stored by now
			err := wentBack(rec.changes(t, key))
			if control {
				if err == nil {
					t.Fatal("control: every change of the key stored in order; the test cannot tell the sharding keeps the order")
				}
				t.Logf("control: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("expiry is not a delete by default", func(t *testing.T) {
		key := prefix + ":exp"
		rdb.HSet(ctx, key, "a", "1")
		rdb.PExpire(ctx, key, 50*time.Millisecond)
		rec.waitFor(t, key, func(last change.Change, _ []change.Change) error { return nil })
		testenv.Eventually(t, 5*time.Second, func() error {
			if rdb.Exists(ctx, key).Val() != 0 {
				return fmt.Errorf("not expired yet")
			}
			return nil
		})
		// A later key's change proves the bridge handled the expiry event.
		rdb.HSet(ctx, prefix+":after-exp", "a", "1")
		rec.waitFor(t, prefix+":after-exp", func(change.Change, []change.Change) error { return nil })
		for _, c := range rec.changes(t, key) {
			if c.Op == change.Delete {
				t.Fatalf("expiry published a delete: %+v", c)
			}
		}
	})
	t.Run("keys that cannot be changes are dead letters", func(t *testing.T) {
		rdb.Set(ctx, prefix+":str", "x", 0)
		rdb.Rename(ctx, prefix+":str", prefix+":str2")
		rdb.HSet(ctx, prefix+":", "a", "1") // no id
		waitDeadLetters(t, cfg, map[string]string{
			"jetsync-dlq.bridge." + prefix + ".str2": `key "` + prefix + `:str2" holds a string, not a hash`,
			"jetsync-dlq.bridge." + prefix:           "change has no id",
		})
		if n := len(rec.changes(t, prefix+":str2")); n != 0 {
			t.Fatalf("%d changes published for a string key", n)
		}
	})
}

func TestBridgeExpiryAsDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testenv.Redis(t)
	prefix := testenv.Name("p")
	testenv.DeletePrefix(t, rdb, prefix)
	cfg := testConfig(testenv.RedisAddr(), testenv.NATS(t), prefix)
	cfg.OnExpired = "delete"
	rec := runBridge(t, cfg)
	key := prefix + ":1"
	rdb.HSet(ctx, key, "a", "1")
	rdb.PExpire(ctx, key, 50*time.Millisecond)
	rec.waitFor(t, key, func(last change.Change, _ []change.Change) error {
		if last.Op != change.Delete {
			return fmt.Errorf("last change %+v, want a delete", last)
		}
		return nil
	})
}

func TestBridgeHealthAndMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testenv.Redis(t)
	prefix := testenv.Name("p")
	testenv.DeletePrefix(t, rdb, prefix)
	cfg := testConfig(testenv.RedisAddr(), testenv.NATS(t), prefix)
	cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	rec := runBridge(t, cfg)
	get := func(path string) (int, string) { return testenv.HTTPGet("http://" + cfg.HTTPAddr + path) }
	testenv.Eventually(t, 5*time.Second, func() error {
		if code, body := get("/readyz"); code != 200 {
			return fmt.Errorf("/readyz: %d %s", code, body)
		}
		// The first resync is done: it cannot republish what comes next.
		if _, body := get("/metrics"); testenv.MetricValue(body, "jetsync_bridge_resyncs_total") != 1 {
			return fmt.Errorf("first resync not done")
		}
		return nil
	})
	for i := range 10 {
		rdb.HSet(ctx, fmt.Sprintf("%s:%d", prefix, i), "a", "1")
	}
	rdb.Del(ctx, prefix+":0")
	rec.waitFor(t, prefix+":0", func(last change.Change, _ []change.Change) error {
		if last.Op != change.Delete {
			return fmt.Errorf("not deleted yet")
		}
		return nil
	})
	_, body := get("/metrics")
	for series, want := range map[string]float64{
		`jetsync_bridge_events_total{kind="write"}`:    10,
		`jetsync_bridge_events_total{kind="deletion"}`: 1,
		`jetsync_bridge_resyncs_total`:                 1,
	} {
		if got := testenv.MetricValue(body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	// Key 0's upsert and delete may be coalesced into one read.
	if got := testenv.MetricValue(body, "jetsync_bridge_published_total"); got < 10 || got > 11 {
		t.Errorf("jetsync_bridge_published_total = %v, want 10 or 11", got)
	}
	if !strings.Contains(body, "go_goroutines") {
		t.Error("/metrics lacks the Go collector")
	}
}

// TestBridgeDeadLettersUnsendable: a hash that cannot travel unchanged (too
// big for the server's max_payload, or not UTF-8) is a dead letter with its
// reason, and the bridge keeps flowing.
func TestBridgeDeadLettersUnsendable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testenv.Redis(t)
	prefix := testenv.Name("p")
	testenv.DeletePrefix(t, rdb, prefix)
	cfg := testConfig(testenv.RedisAddr(), testenv.NATS(t), prefix)
	rec := runBridge(t, cfg)
	rdb.HSet(ctx, prefix+":big", "blob", strings.Repeat("x", 2<<20))
	rdb.HSet(ctx, prefix+":bin", "v", "\xff\xfe")
	rdb.HSet(ctx, prefix+":after", "a", "1")
	rec.waitFor(t, prefix+":after", func(change.Change, []change.Change) error { return nil })
	waitDeadLetters(t, cfg, map[string]string{
		"jetsync-dlq.bridge." + prefix + ".big": "max_payload",
		"jetsync-dlq.bridge." + prefix + ".bin": "not valid UTF-8",
	})
}

// waitDeadLetters waits until the bridge's last dead letter on each subject
// says its reason (subject -> a part of Jetsync-Error).
func waitDeadLetters(t *testing.T, cfg Config, want map[string]string) {
	t.Helper()
	nc, err := nats.Connect(cfg.NATS.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	testenv.Eventually(t, 10*time.Second, func() error {
		s, err := js.Stream(ctx, cfg.StreamConfig.Name+"_DLQ")
		if err != nil {
			return err
		}
		for subject, reason := range want {
			m, err := s.GetLastMsgForSubject(ctx, subject)
			if err != nil {
				return fmt.Errorf("%s: %w", subject, err)
			}
			if got := m.Header.Get(change.HeaderError); !strings.Contains(got, reason) || m.Header.Get(change.HeaderFunction) != "bridge" {
				return fmt.Errorf("%s: reason %q, want %q", subject, got, reason)
			}
		}
		return nil
	})
}

func TestBridgeValueTypes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testenv.Redis(t)
	h, j, s := testenv.Name("h"), testenv.Name("j"), testenv.Name("s")
	for _, p := range []string{h, j, s} {
		testenv.DeletePrefix(t, rdb, p)
	}
	cfg := testConfig(testenv.RedisAddr(), testenv.NATS(t), h, j+":json", s+":string")
	rec := runBridge(t, cfg)
	fieldsAre := func(want string) func(change.Change, []change.Change) error {
		return func(last change.Change, _ []change.Change) error {
			if last.Op != change.Upsert || fmt.Sprint(last.Fields) != want {
				return fmt.Errorf("last change %+v, want fields %s", last, want)
			}
			return nil
		}
	}
	deleted := func(last change.Change, _ []change.Change) error {
		if last.Op != change.Delete {
			return fmt.Errorf("last change %+v, want a delete", last)
		}
		return nil
	}

	rdb.Set(ctx, j+":1", `{"name":"Ada","age":36,"ok":true,"tags":["a",1],"gone":null,"nested":{"x":1}}`, 0)
	rec.waitFor(t, j+":1", fieldsAre(`map[age:36 name:Ada nested:{"x":1} ok:true tags:["a",1]]`))
	rdb.Set(ctx, s+":1", "hello", 0)
	rec.waitFor(t, s+":1", fieldsAre("map[value:hello]"))
	rdb.Append(ctx, s+":1", " world")
	rec.waitFor(t, s+":1", fieldsAre("map[value:hello world]"))
	rdb.Del(ctx, s+":1")
	rec.waitFor(t, s+":1", deleted)

	// RENAME and RENAMENX: a delete of the old id and an upsert of the new one.
	rdb.HSet(ctx, h+":1", "a", "1")
	rec.waitFor(t, h+":1", fieldsAre("map[a:1]"))
	rdb.Rename(ctx, h+":1", h+":2")
	rec.waitFor(t, h+":1", deleted)
	rec.waitFor(t, h+":2", fieldsAre("map[a:1]"))
	rdb.RenameNX(ctx, h+":2", h+":3")
	rec.waitFor(t, h+":2", deleted)
	rec.waitFor(t, h+":3", fieldsAre("map[a:1]"))

	// Values of the wrong shape are dead letters, never a crash.
	rdb.Set(ctx, j+":bad", "not json", 0)
	rdb.HSet(ctx, j+":hash", "a", "1")
	rdb.Set(ctx, j+":array", "[1,2]", 0)
	waitDeadLetters(t, cfg, map[string]string{
		"jetsync-dlq.bridge." + j + ".bad":   "does not hold a JSON object",
		"jetsync-dlq.bridge." + j + ".hash":  "holds a hash, not a json",
		"jetsync-dlq.bridge." + j + ".array": "does not hold a JSON object",
	})
}

// TestJournalRereadsPendingEntries: entries a previous bridge took from the
// journal but never acknowledged (it died) are read again and published.
func TestJournalRereadsPendingEntries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testenv.Redis(t)
	prefix := testenv.Name("p")
	testenv.DeletePrefix(t, rdb, prefix)
	stream := JournalStream(prefix)
	t.Cleanup(func() { rdb.Del(context.Background(), stream) })
	cfg := testConfig(testenv.RedisAddr(), testenv.NATS(t), prefix)
	cfg.Journal = []string{"*"}
	if err := loadLibrary(ctx, rdb, cfg.Redis.Addr); err != nil {
		t.Fatal(err)
	}
	rdb.FCall(ctx, "jetsync_hset", []string{prefix + ":1"}, "a", "1")
	rdb.FCall(ctx, "jetsync_hset", []string{prefix + ":2"}, "a", "2")
	rdb.FCall(ctx, "jetsync_del", []string{prefix + ":2"})
	// A bridge that died after taking the entries:
	rdb.XGroupCreateMkStream(ctx, stream, journalGroup, "0")
	taken, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: journalGroup, Consumer: journalConsumer, Streams: []string{stream, ">"}, Count: 10}).Result()
	if err != nil || len(taken[0].Messages) != 3 {
		t.Fatalf("took %v, %v; want 3 entries", taken, err)
	}

	rec := runBridge(t, cfg)
	rec.waitFor(t, prefix+":1", func(last change.Change, _ []change.Change) error { return nil })
	rec.waitFor(t, prefix+":2", func(last change.Change, _ []change.Change) error {
		if last.Op != change.Delete {
			return fmt.Errorf("last change of %s:2 %+v, want a delete", prefix, last)
		}
		return nil
	})
	testenv.Eventually(t, 10*time.Second, func() error {
		pending, err := rdb.XPending(ctx, stream, journalGroup).Result()
		if err != nil {
			return err
		}
		if pending.Count != 0 || rdb.XLen(ctx, stream).Val() != 0 {
			return fmt.Errorf("%d entries pending, %d in the stream", pending.Count, rdb.XLen(ctx, stream).Val())
		}
		return nil
	})
}

// TestWritesWhileStoppedArrive: keys written while no bridge runs (a new
// key, and a new value of a key carried before) are found by the resync
// that follows the next bridge's subscription. The control never resyncs
// and must see those writes never arrive, while a write made after the start
// does. (Deletes made while no bridge runs are not found by a resync: that
// is the journal's guarantee.)
func TestWritesWhileStoppedArrive(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "resynced", "no resync", func(t *testing.T, control bool) {
		ctx := context.Background()
		rdb := testenv.Redis(t)
		prefix := testenv.Name("p")
		testenv.DeletePrefix(t, rdb, prefix)
		cfg := testConfig(testenv.RedisAddr(), testenv.NATS(t), prefix)
		cfg.hooks.noResync = control
		bctx, stop := context.WithCancel(ctx)
		b, err := New(bctx, cfg, testenv.Logger(t)) // creates the stream
		if err != nil {
			t.Fatal(err)
		}
		rec := recordStream(t, cfg)
		carried := func(key, v string) func() error { return rec.carried(t, key, v) }

		done := make(chan error, 1)
		go func() { done <- b.Run(bctx) }()
		testenv.Eventually(t, 10*time.Second, b.Ready)
		rdb.HSet(ctx, prefix+":old", "n", "1")
		testenv.Eventually(t, 10*time.Second, carried(prefix+":old", "1"))
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}

		// No bridge runs.
		rdb.HSet(ctx, prefix+":old", "n", "2")
		rdb.HSet(ctx, prefix+":new", "n", "1")

		startBridge(t, cfg)
		rdb.HSet(ctx, prefix+":later", "n", "1")
		testenv.Eventually(t, 10*time.Second, carried(prefix+":later", "1"))
		if control {
			time.Sleep(2 * time.Second) // a resync's publishes would be stored by now
			for _, err := range []error{carried(prefix+":old", "2")(), carried(prefix+":new", "1")()} {
				if err == nil {
					t.Fatal("control: a write made while no bridge ran arrived without a resync; the test cannot tell the resync is what carries it")
				}
				t.Logf("control: %v", err)
			}
			return
		}
		testenv.Eventually(t, 10*time.Second, carried(prefix+":old", "2"))
		testenv.Eventually(t, 10*time.Second, carried(prefix+":new", "1"))
	})
}

// TestGapsAreResynced: a subscriber that falls behind is disconnected by
// Redis (here a tiny pub/sub output buffer on a server of the test's own),
// and a killed pub/sub connection loses notifications too; both are counted
// as gaps and resynced, so every key still ends with its last value. The
// control never resyncs and must see keys whose last value never arrives
// after the subscriber fell behind.
func TestGapsAreResynced(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "resynced", "no resync", func(t *testing.T, control bool) {
		ctx := context.Background()
		addr := testenv.RedisServer(t, "--client-output-buffer-limit", "pubsub 16kb 8kb 1")
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		prefix := "p"
		cfg := testConfig(addr, testenv.NATS(t), prefix)
		cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		cfg.hooks.noResync = control
		rec := runBridge(t, cfg)
		testenv.Eventually(t, 5*time.Second, func() error {
			if code, body := testenv.HTTPGet("http://" + cfg.HTTPAddr + "/readyz"); code != 200 {
				return fmt.Errorf("%d %s", code, body)
			}
			return nil
		})
		gaps := func() float64 {
			_, body := testenv.HTTPGet("http://" + cfg.HTTPAddr + "/metrics")
			return testenv.MetricValue(body, `jetsync_bridge_gaps_total{why="pubsub reconnect"}`)
		}

		// Falling behind: a burst far larger than the 16 kB buffer.
		pipe := rdb.Pipeline()
		for i := range 20000 {
			pipe.HSet(ctx, fmt.Sprintf("%s:%d", prefix, i%2000), "n", strconv.Itoa(i))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if control {
			testenv.Eventually(t, 20*time.Second, func() error {
				if g := gaps(); g < 1 {
					return fmt.Errorf("control: %v gaps counted", g)
				}
				return nil
			})
			// The bridge hears again, and has published what it heard. It
			// may still be reconnecting (a write made before it listens is
			// lost, and the control never resyncs): written until heard.
			testenv.Eventually(t, 20*time.Second, func() error {
				rdb.HSet(ctx, prefix+":after-gap", "n", "1")
				time.Sleep(200 * time.Millisecond)
				if len(rec.changes(t, prefix+":after-gap")) == 0 {
					return fmt.Errorf("control: no change of %s:after-gap stored", prefix)
				}
				return nil
			})
			time.Sleep(2 * time.Second)
			last := rec.last(t)
			stale := 0
			for i := 18000; i < 20000; i++ {
				if c, ok := last[fmt.Sprintf("%s:%d", prefix, i%2000)]; !ok || c.Fields["n"] != strconv.Itoa(i) {
					stale++
				}
			}
			if stale == 0 {
				t.Fatal("control: every key carried its last value without a resync; the test cannot tell the resync is what recovers the gap")
			}
			t.Logf("control: %d of 2000 keys never carried their last value after the gap", stale)
			return
		}
		testenv.Eventually(t, 20*time.Second, func() error {
			if g := gaps(); g < 1 {
				return fmt.Errorf("%v gaps counted", g)
			}
			for i := 18000; i < 20000; i += 97 {
				key := fmt.Sprintf("%s:%d", prefix, i%2000)
				all := rec.changes(t, key)
				if len(all) == 0 || all[len(all)-1].Fields["n"] != strconv.Itoa(i) {
					return fmt.Errorf("%s not at its last value %d yet", key, i)
				}
			}
			return nil
		})

		// A killed connection: writes made before the bridge resubscribes are
		// found by the resync.
		before := gaps()
		if err := rdb.ClientKillByFilter(ctx, "TYPE", "pubsub").Err(); err != nil {
			t.Fatal(err)
		}
		rdb.HSet(ctx, prefix+":after-kill", "n", "1")
		rec.waitFor(t, prefix+":after-kill", func(change.Change, []change.Change) error { return nil })
		testenv.Eventually(t, 10*time.Second, func() error {
			if g := gaps(); g <= before {
				return fmt.Errorf("gaps %v, want more than %v after the kill", g, before)
			}
			return nil
		})
	})
}

// TestBridgeDeadLettersOddKeys: a key of the wrong type written in place
// (no DEL or RENAME involved), a key that is not UTF-8, and an id too long
// for a subject are dead letters, and the bridge keeps flowing.
func TestBridgeDeadLettersOddKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testenv.Redis(t)
	prefix := testenv.Name("p")
	testenv.DeletePrefix(t, rdb, prefix)
	cfg := testConfig(testenv.RedisAddr(), testenv.NATS(t), prefix)
	rec := runBridge(t, cfg)
	rdb.Set(ctx, prefix+":str", "x", 0)
	rdb.LPush(ctx, prefix+":list", "x")
	rdb.ZAdd(ctx, prefix+":zset", redis.Z{Score: 1, Member: "x"})
	rdb.HSet(ctx, prefix+":\xffid", "a", "1")
	rdb.HSet(ctx, prefix+":"+strings.Repeat("c", 5000), "a", "1")
	rdb.HSet(ctx, prefix+":after", "a", "1")
	rec.waitFor(t, prefix+":after", func(change.Change, []change.Change) error { return nil })
	waitDeadLetters(t, cfg, map[string]string{
		"jetsync-dlq.bridge." + prefix + ".str":                         "holds a string, not a hash",
		"jetsync-dlq.bridge." + prefix + ".list":                        "holds a list, not a hash",
		"jetsync-dlq.bridge." + prefix + ".zset":                        "holds a zset, not a hash",
		"jetsync-dlq.bridge." + prefix + "." + change.IDToken("\xffid"): "is not valid UTF-8",
		"jetsync-dlq.bridge." + prefix:                                  "is too long",
	})
}

// TestQueuesStayBounded: when the workers fall far behind, the subscriber
// waits for room (Redis buffers the notifications) instead of queueing
// without limit, and every key still ends with its value.
func TestQueuesStayBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testenv.Redis(t)
	prefix := testenv.Name("p")
	testenv.DeletePrefix(t, rdb, prefix)
	cfg := testConfig(testenv.RedisAddr(), testenv.NATS(t), prefix)
	cfg.Workers, cfg.Batch = 2, 8 // queues hold 256 notified keys each
	cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	rec := runBridge(t, cfg)
	testenv.Eventually(t, 5*time.Second, func() error {
		if code, body := testenv.HTTPGet("http://" + cfg.HTTPAddr + "/readyz"); code != 200 {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	const keys = 8000
	pipe := rdb.Pipeline()
	for i := range keys {
		pipe.HSet(ctx, fmt.Sprintf("%s:%d", prefix, i), "n", strconv.Itoa(i))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	most := 0.0
	testenv.Eventually(t, 60*time.Second, func() error {
		_, body := testenv.HTTPGet("http://" + cfg.HTTPAddr + "/metrics")
		most = max(most, testenv.MetricValue(body, "jetsync_bridge_queued_keys"))
		last := rec.last(t)
		for i := range keys {
			if c, ok := last[fmt.Sprintf("%s:%d", prefix, i)]; !ok || c.Fields["n"] != strconv.Itoa(i) {
				return fmt.Errorf("%s:%d not published yet (%d of %d keys)", prefix, i, len(last), keys)
			}
		}
		return nil
	})
	if most > 2*256 {
		t.Fatalf("%v keys queued at most, want at most 2 × 256", most)
	}
	if most < 1 {
		t.Fatalf("never saw a key queued: the test did not load the bridge")
	}
}
