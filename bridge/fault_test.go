package bridge

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/bridge/streams"
	"github.com/jetsync/jetsync/infra/harness"
	"github.com/jetsync/jetsync/infra/testenv"
)

// deadLetterCount is how many dead letters the stream of cfg holds.
func deadLetterCount(t *testing.T, cfg Config) uint64 {
	t.Helper()
	nc, err := nats.Connect(cfg.NATS.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(context.Background(), streams.DeadLetterStream(cfg.StreamConfig.Name))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// TestBusyRedisLosesNothing: reads that Redis answers with BUSY (a long
// script) are retried, never dead-lettered: upserts and deletes queued while
// the script runs all arrive. The control files them as the key's fault, as
// the bridge once did, and must see dead letters.
func TestBusyRedisLosesNothing(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "retried", "filed as the key's fault", func(t *testing.T, control bool) {
		ctx := context.Background()
		addr := testenv.RedisServer(t, "--busy-reply-threshold", "100")
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		cfg := testConfig(addr, testenv.NATS(t), "p")
		cfg.Workers, cfg.Batch = 1, 16
		cfg.hooks.redisErrorsAreKeyErrors = control
		rec := runBridge(t, cfg)
		const upserts, deletes = 6000, 2000
		write := func(n int) {
			pipe := rdb.Pipeline()
			for i := range upserts + deletes {
				pipe.HSet(ctx, "p:"+strconv.Itoa(i), "n", strconv.Itoa(n))
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		write(1)
		testenv.Eventually(t, 30*time.Second, func() error {
			if n := len(rec.last(t)); n < upserts+deletes {
				return fmt.Errorf("%d of %d keys carried", n, upserts+deletes)
			}
			return nil
		})
		// Queue upserts and deletes, then keep Redis busy while the
		// bridge reads them.
		pipe := rdb.Pipeline()
		for i := range upserts + deletes {
			if i < upserts {
				pipe.HSet(ctx, "p:"+strconv.Itoa(i), "n", "2")
			} else {
				pipe.Del(ctx, "p:"+strconv.Itoa(i))
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if err := harness.Busy(ctx, addr, 3*time.Second); err != nil {
			t.Fatalf("busy script: %v", err)
		}
		if control {
			testenv.Eventually(t, 20*time.Second, func() error {
				if n := deadLetterCount(t, cfg); n == 0 {
					return fmt.Errorf("control: no dead letter yet")
				}
				return nil
			})
			return
		}
		testenv.Eventually(t, 30*time.Second, func() error {
			last := rec.last(t)
			for i := range upserts + deletes {
				c := last["p:"+strconv.Itoa(i)]
				if i < upserts && (c.Op != change.Upsert || c.Fields["n"] != "2") {
					return fmt.Errorf("p:%d last carried %s %v, want upsert n=2", i, c.Op, c.Fields)
				}
				if i >= upserts && c.Op != change.Delete {
					return fmt.Errorf("p:%d last carried %s, want delete", i, c.Op)
				}
			}
			return nil
		})
		if n := deadLetterCount(t, cfg); n != 0 {
			t.Fatalf("%d dead letters, want none: BUSY is Redis's state, not the key's fault", n)
		}
	})
}

// TestLostPubAckIsRepublished: a publish whose PubAck is lost (stored, but
// the answer never comes back over a connection that stays open, as in a
// stream leader change) is sent again after JETSYNC_PUBLISH_TIMEOUT with the
// same Nats-Msg-Id: stored once, and the worker carries on. The control
// waits for PubAcks forever and must see its worker stall.
func TestLostPubAckIsRepublished(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "republished", "no timeout", func(t *testing.T, control bool) {
		ctx := context.Background()
		rdb := testenv.Redis(t)
		prefix := testenv.Name("p")
		testenv.DeletePrefix(t, rdb, prefix)
		natsURL := testenv.NATS(t)
		proxy := testenv.NewProxy(t, strings.TrimPrefix(natsURL, "nats://"))
		cfg := testConfig(testenv.RedisAddr(), "nats://"+proxy.Addr, prefix)
		cfg.Workers, cfg.PublishTimeout = 1, time.Second
		cfg.hooks.noPublishTimeout = control
		startBridge(t, cfg)
		direct := cfg
		direct.NATS.URL = natsURL
		rec := recordStream(t, direct)
		landed := func(key string) func() error {
			return func() error {
				if len(rec.changes(t, key)) == 0 {
					return fmt.Errorf("%s not carried", key)
				}
				return nil
			}
		}
		rdb.HSet(ctx, prefix+":1", "n", "1")
		testenv.Eventually(t, 10*time.Second, landed(prefix+":1"))

		proxy.DropReplies()
		rdb.HSet(ctx, prefix+":2", "n", "2")
		testenv.Eventually(t, 10*time.Second, landed(prefix+":2")) // stored; its PubAck dropped
		time.Sleep(200 * time.Millisecond)
		proxy.Heal()
		rdb.HSet(ctx, prefix+":3", "n", "3")
		if control {
			time.Sleep(5 * time.Second)
			if landed(prefix+":3")() == nil {
				t.Fatal("control: carried without a publish timeout; the test cannot tell the timeout works")
			}
			return
		}
		testenv.Eventually(t, 15*time.Second, landed(prefix+":3"))
		if n := len(rec.changes(t, prefix+":2")); n != 1 {
			t.Errorf("%s stored %d times, want once (same Nats-Msg-Id)", prefix+":2", n)
		}
	})
}

// TestUnstorableChangeIsDeadLettered: a change the stream refuses for good
// (over its max_msg_size) becomes the key's dead letter instead of being
// retried forever in front of every later change of its worker, which the
// control (retrying it) must see.
func TestUnstorableChangeIsDeadLettered(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "dead-lettered", "retried", func(t *testing.T, control bool) {
		ctx := context.Background()
		rdb := testenv.Redis(t)
		prefix := testenv.Name("p")
		testenv.DeletePrefix(t, rdb, prefix)
		cfg := testConfig(testenv.RedisAddr(), testenv.NATS(t), prefix)
		cfg.Workers = 1
		cfg.hooks.publishErrorsAreTransient = control
		rec := runBridge(t, cfg)
		nc, err := nats.Connect(cfg.NATS.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		s, err := js.Stream(ctx, cfg.StreamConfig.Name)
		if err != nil {
			t.Fatal(err)
		}
		sc := s.CachedInfo().Config
		sc.MaxMsgSize = 2000 // an operator's limit
		if _, err := js.UpdateStream(ctx, sc); err != nil {
			t.Fatal(err)
		}
		rdb.HSet(ctx, prefix+":big", "blob", strings.Repeat("x", 5000))
		time.Sleep(300 * time.Millisecond) // in a batch of its own
		rdb.HSet(ctx, prefix+":after", "a", "1")
		if control {
			time.Sleep(4 * time.Second)
			if len(rec.changes(t, prefix+":after")) > 0 {
				t.Fatal("control: a later change was carried; the test cannot tell the dead letter is what unblocks it")
			}
			return
		}
		rec.waitFor(t, prefix+":after", func(change.Change, []change.Change) error { return nil })
		waitDeadLetters(t, cfg, map[string]string{
			"jetsync-dlq.bridge." + prefix + ".big": "the stream cannot store the change",
		})
	})
}

// TestPoisonKeysFiledOnce: a key that cannot become a change is filed as a
// dead letter once, not again by every later bridge's resync; a new value
// of it is filed again. The control files at every resync and must see the
// dead letters grow.
func TestPoisonKeysFiledOnce(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "once", "no dedup", func(t *testing.T, control bool) {
		ctx := context.Background()
		rdb := testenv.Redis(t)
		prefix := testenv.Name("p")
		testenv.DeletePrefix(t, rdb, prefix)
		cfg := testConfig(testenv.RedisAddr(), testenv.NATS(t), prefix)
		cfg.hooks.noDeadLetterDedup = control
		rdb.HSet(ctx, prefix+":bin", "v", "\xff")
		rdb.HSet(ctx, prefix+":"+strings.Repeat("c", 5000), "a", "1")
		wantDLQ := func(n uint64) {
			t.Helper()
			testenv.Eventually(t, 10*time.Second, func() error {
				if got := deadLetterCount(t, cfg); got != n {
					return fmt.Errorf("%d dead letters, want %d", got, n)
				}
				return nil
			})
		}
		restart := func(marker string) {
			t.Helper()
			bctx, cancel := context.WithCancel(ctx)
			b, err := New(bctx, cfg, testenv.Logger(t))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- b.Run(bctx) }()
			defer func() { cancel(); <-done }()
			testenv.Eventually(t, 10*time.Second, b.Ready)
			rdb.HSet(ctx, prefix+":"+marker, "a", "1")
			rec := recordStream(t, cfg)
			rec.waitFor(t, prefix+":"+marker, func(change.Change, []change.Change) error { return nil })
		}
		restart("m1")
		wantDLQ(2)
		restart("m2")
		if control {
			wantDLQ(4)
			return
		}
		time.Sleep(time.Second) // the control files again within 0.3 s
		wantDLQ(2)
		rdb.HSet(ctx, prefix+":bin", "v", "\xfe") // a new bad value
		restart("m3")
		wantDLQ(3)
	})
}

// TestJournalNeverTrimsUnread: the journal functions do not cap the stream,
// so a bridge down for more than a million journaled writes still finds the
// oldest of them (here a delete). Entries someone else removes unread are
// counted as a gap and resynced; the control does not look and counts none.
func TestJournalNeverTrimsUnread(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("a million writes later", func(t *testing.T) {
		t.Parallel()
		addr := testenv.RedisServer(t)
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		if err := loadLibrary(ctx, rdb, addr); err != nil {
			t.Fatal(err)
		}
		stream := JournalStream("p")
		if err := rdb.FCall(ctx, "jetsync_del", []string{"p:gone"}).Err(); err != nil {
			t.Fatal(err)
		}
		const filler = 1_000_200
		for done := 0; done < filler; done += 10_000 {
			pipe := rdb.Pipeline()
			for range min(10_000, filler-done) {
				pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"key", "p:a", "op", "write"}})
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := rdb.FCall(ctx, "jetsync_hset", []string{"p:a"}, "n", "1").Err(); err != nil {
			t.Fatal(err)
		}
		if n := rdb.XLen(ctx, stream).Val(); n != filler+2 {
			t.Errorf("journal holds %d entries, want all %d", n, filler+2)
		}
		first, err := rdb.XRangeN(ctx, stream, "-", "+", 1).Result()
		if err != nil || len(first) != 1 || first[0].Values["key"] != "p:gone" || first[0].Values["op"] != "del" {
			t.Errorf("oldest entry %v (%v), want the delete of p:gone", first, err)
		}
	})
	testenv.WithControl(t, "removed unread: a gap", "not checked", func(t *testing.T, control bool) {
		addr := testenv.RedisServer(t)
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		cfg := testConfig(addr, testenv.NATS(t), "p")
		cfg.Journal = []string{"p"}
		cfg.hooks.noTrimCheck = control
		run := func() (stop func()) {
			bctx, cancel := context.WithCancel(ctx)
			b, err := New(bctx, cfg, testenv.Logger(t))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- b.Run(bctx) }()
			testenv.Eventually(t, 10*time.Second, b.Ready)
			return func() { cancel(); <-done }
		}
		stop := run()
		rec := recordStream(t, cfg)
		rdb.FCall(ctx, "jetsync_hset", []string{"p:1"}, "n", "1")
		rec.waitFor(t, "p:1", func(change.Change, []change.Change) error { return nil })
		stop()
		rdb.FCall(ctx, "jetsync_hset", []string{"p:2"}, "n", "2")
		rdb.FCall(ctx, "jetsync_del", []string{"p:1"})
		rdb.XTrimMaxLen(ctx, JournalStream("p"), 0) // someone trims the journal
		cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		defer run()()
		gaps := func() float64 {
			_, body := testenv.HTTPGet("http://" + cfg.HTTPAddr + "/metrics")
			return testenv.MetricValue(body, `jetsync_bridge_gaps_total{why="journal entries removed unread"}`)
		}
		rec.waitFor(t, "p:2", func(change.Change, []change.Change) error { return nil }) // by the resync
		if control {
			time.Sleep(time.Second)
			if g := gaps(); g > 0 {
				t.Fatalf("control: %v gaps counted without the check", g)
			}
			return
		}
		testenv.Eventually(t, 10*time.Second, func() error {
			if g := gaps(); g < 1 {
				return fmt.Errorf("%v gaps for journal entries removed unread", g)
			}
			return nil
		})
	})
}

// TestStopHandsOverDeletes: a bridge stopped (as SIGTERM does) with
// thousands of deletions queued — because NATS takes nothing, or because
// the notifications are not even read yet — hands them over in Redis, and
// the next bridge publishes every one. The control drops them, as the bridge
// once did, and must see deleted keys without their delete.
func TestStopHandsOverDeletes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		pause, control bool
	}{
		{"NATS paused", true, false},
		{"control: NATS paused, dropped", true, true},
		{"notifications unread", false, false},
		{"control: notifications unread, dropped", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			addr := testenv.RedisServer(t)
			rdb := redis.NewClient(&redis.Options{Addr: addr})
			defer rdb.Close()
			natsURL := testenv.NATS(t)
			proxy := testenv.NewProxy(t, strings.TrimPrefix(natsURL, "nats://"))
			cfg := testConfig(addr, "nats://"+proxy.Addr, "p")
			cfg.Workers, cfg.Batch, cfg.ShutdownGrace = 1, 16, time.Second
			cfg.hooks.noHandover = tc.control
			direct := cfg
			direct.NATS.URL = natsURL

			bctx, stop := context.WithCancel(ctx)
			b, err := New(bctx, cfg, testenv.Logger(t))
			if err != nil {
				t.Fatal(err)
			}
			rec := recordStream(t, direct)
			done := make(chan error, 1)
			go func() { done <- b.Run(bctx) }()
			testenv.Eventually(t, 10*time.Second, b.Ready)
			const keys = 3000
			pipe := rdb.Pipeline()
			for i := range keys {
				pipe.HSet(ctx, "p:"+strconv.Itoa(i), "n", "1")
			}
			if tc.pause {
				if _, err := pipe.Exec(ctx); err != nil {
					t.Fatal(err)
				}
				testenv.Eventually(t, 30*time.Second, func() error {
					if n := len(rec.last(t)); n < keys {
						return fmt.Errorf("%d of %d keys carried", n, keys)
					}
					return nil
				})
				proxy.Blackhole() // NATS takes nothing, and nobody is told
			} else {
				for i := range 20 * keys { // a backlog the bridge is far behind on
					pipe.HSet(ctx, "p:q"+strconv.Itoa(i), "n", "1")
				}
			}
			for i := range keys {
				pipe.Del(ctx, "p:"+strconv.Itoa(i))
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
			if tc.pause {
				time.Sleep(500 * time.Millisecond)
			}
			stop() // what SIGTERM does
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			proxy.Heal()

			startBridge(t, direct) // the next bridge
			deleted := func() error {
				last := rec.last(t)
				missing := 0
				for i := range keys {
					if last["p:"+strconv.Itoa(i)].Op != change.Delete {
						missing++
					}
				}
				if missing > 0 {
					return fmt.Errorf("%d of %d deleted keys have no delete carried", missing, keys)
				}
				return nil
			}
			if tc.control {
				time.Sleep(3 * time.Second)
				if deleted() == nil {
					t.Fatal("control: every delete carried without the handover; the test cannot tell it works")
				}
				return
			}
			testenv.Eventually(t, 30*time.Second, deleted)
		})
	}
}

// TestBigValuesStayBounded: a resync of hashes of 4 MiB each (over NATS's
// max_payload) measures them without reading them and dead-letters each one;
// no batch reads more than JETSYNC_BATCH_BYTES plus one message's worth. The
// control reads every key of a batch whatever its size, and must read them.
func TestBigValuesStayBounded(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "bounded", "read whole", func(t *testing.T, control bool) {
		ctx := context.Background()
		addr := testenv.RedisServer(t)
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		const keys = 12
		blob := strings.Repeat("x", 4<<20)
		for i := range keys {
			rdb.HSet(ctx, "p:big"+strconv.Itoa(i), "blob", blob)
		}
		for i := range 1000 { // and ordinary ones of 16 KiB
			rdb.HSet(ctx, "p:"+strconv.Itoa(i), "v", blob[:16<<10])
		}
		cfg := testConfig(addr, testenv.NATS(t), "p")
		cfg.Workers, cfg.Batch, cfg.BatchBytes = 2, 256, 1<<20
		cfg.hooks.noSizeCheck = control
		b := startBridge(t, cfg) // its resync finds them all
		rec := recordStream(t, cfg)
		testenv.Eventually(t, 60*time.Second, func() error {
			if n := deadLetterCount(t, cfg); n < keys {
				return fmt.Errorf("%d of %d big keys dead-lettered", n, keys)
			}
			if n := len(rec.last(t)); n < 1000 {
				return fmt.Errorf("%d of 1000 ordinary keys carried", n)
			}
			return nil
		})
		peak, bound := b.readPeak.Load(), cfg.BatchBytes+int64(b.nc.MaxPayload())
		if control {
			if peak <= bound {
				t.Fatalf("control: a batch read at most %d bytes; the test cannot tell the bound works", peak)
			}
			return
		}
		if peak > bound {
			t.Fatalf("a batch read %d bytes of values, want at most %d", peak, bound)
		}
		waitDeadLetters(t, cfg, map[string]string{"jetsync-dlq.bridge.p.big0": "holds at least 4194"})
	})
}

// TestJournalReclaimsStuckEntries: a journal entry read by a bridge that
// then stopped without acknowledging it (a partitioned old bridge reads on
// until it notices it lost its lease) is taken again by the active bridge
// and acknowledged once its change is stored. The control leaves it.
func TestJournalReclaimsStuckEntries(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "reclaimed", "left pending", func(t *testing.T, control bool) {
		ctx := context.Background()
		addr := testenv.RedisServer(t)
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		cfg := testConfig(addr, testenv.NATS(t), "p")
		cfg.Journal = []string{"p"}
		cfg.hooks.noReclaim, cfg.hooks.stuckIdle = control, time.Second
		rec := runBridge(t, cfg)
		stream := JournalStream("p")
		rdb.FCall(ctx, "jetsync_hset", []string{"p:1"}, "n", "1")
		rec.waitFor(t, "p:1", func(change.Change, []change.Change) error { return nil })

		// Another reader of the group takes the next entry first, and
		// never acknowledges it.
		pipe := rdb.TxPipeline()
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"key", "p:1", "op", "write"}})
		taken := pipe.XReadGroup(ctx, &redis.XReadGroupArgs{Group: journalGroup, Consumer: journalConsumer, Streams: []string{stream, ">"}, Count: 10, Block: -1})
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if res := taken.Val(); len(res) != 1 || len(res[0].Messages) != 1 {
			t.Fatalf("the other reader took %v, want the one entry", res)
		}
		pending := func() int64 { return rdb.XPending(ctx, stream, journalGroup).Val().Count }
		if control {
			time.Sleep(8 * time.Second)
			if n := pending(); n != 1 {
				t.Fatalf("control: %d entries pending, want the stuck one still there", n)
			}
			return
		}
		testenv.Eventually(t, 15*time.Second, func() error {
			if n := pending(); n != 0 {
				return fmt.Errorf("%d journal entries still pending", n)
			}
			return nil
		})
	})
}

// TestRedisErrorsAreNotKeyErrors: of the errors a read can meet, only
// WRONGTYPE is the key's fault (a dead letter); every reply that names a
// state of Redis or of the connection is retried. NOPERM and WRONGTYPE
// come from a real server; the others are the replies Redis sends in
// states a test cannot hold still (loading, cluster down, resharding,
// master down).
func TestRedisErrorsAreNotKeyErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testenv.Redis(t)
	prefix := testenv.Name("p")
	testenv.DeletePrefix(t, rdb, prefix)
	rdb.Set(ctx, prefix+":str", "x", 0)
	wrongType := rdb.HGetAll(ctx, prefix+":str").Err()
	user := testenv.Name("noperm")
	if err := rdb.Do(ctx, "ACL", "SETUSER", user, "on", ">pw", "~*", "+@all", "-hgetall").Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Do(context.Background(), "ACL", "DELUSER", user) })
	limited := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(), Username: user, Password: "pw"})
	defer limited.Close()
	noPerm := limited.HGetAll(ctx, prefix+":h").Err()
	if wrongType == nil || noPerm == nil {
		t.Fatalf("the server did not refuse: WRONGTYPE %v, NOPERM %v", wrongType, noPerm)
	}
	b := &Bridge{}
	for _, tc := range []struct {
		err      error
		keyFault bool
	}{
		{wrongType, true},
		{noPerm, false},
		{replyError("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."), false},
		{replyError("LOADING Redis is loading the dataset in memory"), false},
		{replyError("CLUSTERDOWN The cluster is down"), false},
		{replyError("TRYAGAIN Multiple keys request during rehashing of slot"), false},
		{replyError("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."), false},
		{replyError("READONLY You can't write against a read only replica."), false},
		{io.ErrUnexpectedEOF, false},
		{&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, false},
	} {
		if got := b.keyError(tc.err); got != tc.keyFault {
			t.Errorf("keyError(%q) = %v, want %v", tc.err, got, tc.keyFault)
		}
	}
}

// replyError is an error reply as go-redis returns it (redis.Error).
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}
