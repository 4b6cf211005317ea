package bridge

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/bridge/streams"
	"github.com/jetsync/jetsync/infra/testenv"
)

// haProc is one bridge process of an HA pair.
type haProc struct {
	cmd  *exec.Cmd
	addr string
	out  *bytes.Buffer
}

// startHA starts a bridge process of bin carrying prefix in the HA group
// prefix (lease TTL 2 s); it is killed when tb ends.
func startHA(tb testing.TB, bin, prefix string, cfg Config) *haProc {
	tb.Helper()
	p := &haProc{addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(tb)), out: &bytes.Buffer{}}
	p.cmd = exec.Command(bin)
	p.cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"JETSYNC_PREFIXES=" + prefix, "JETSYNC_STREAM=" + cfg.StreamConfig.Name,
		"JETSYNC_NATS_URL=" + cfg.NATS.URL, "JETSYNC_REDIS_ADDR=" + testenv.RedisAddr(),
		"JETSYNC_HA_TTL=2s", "JETSYNC_HA_GROUP=" + prefix, "JETSYNC_HTTP_ADDR=" + p.addr,
		"JETSYNC_LOG_FORMAT=text",
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		if tb.Failed() {
			tb.Logf("bridge %s:\n%s", p.addr, p.out.String())
		}
	})
	return p
}

// active is the process's jetsync_bridge_active.
func (p *haProc) active() float64 {
	_, body := testenv.HTTPGet("http://" + p.addr + "/metrics")
	return testenv.MetricValue(body, "jetsync_bridge_active")
}

// startProcessPair starts two bridge processes of one HA group and returns the one that
// became active and the one standing by.
func startProcessPair(tb testing.TB, bin, prefix string, cfg Config) (active, standby *haProc) {
	tb.Helper()
	a, b := startHA(tb, bin, prefix, cfg), startHA(tb, bin, prefix, cfg)
	testenv.Eventually(tb, 10*time.Second, func() error {
		switch {
		case a.active() == 1 && b.active() == 0:
			active, standby = a, b
		case b.active() == 1 && a.active() == 0:
			active, standby = b, a
		default:
			return fmt.Errorf("active: a=%v b=%v; want exactly one", a.active(), b.active())
		}
		return nil
	})
	return active, standby
}

// BenchmarkTakeover is how long after a SIGKILL of the active bridge
// process its standby is active (lease TTL 2 s):
//
//	go test -run '^$' -bench Takeover -benchtime 3x ./bridge/
func BenchmarkTakeover(b *testing.B) {
	bin := testenv.Build(b, "./cmd/jetsync-bridge")
	var total time.Duration
	for range b.N {
		prefix := testenv.Name("p")
		cfg := testConfig(testenv.RedisAddr(), testenv.NATS(b), prefix)
		first, standby := startProcessPair(b, bin, prefix, cfg)
		if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		killed := time.Now()
		for standby.active() != 1 {
			if time.Since(killed) > 30*time.Second {
				b.Fatal("the standby has not taken over 30s after the SIGKILL")
			}
			time.Sleep(10 * time.Millisecond)
		}
		total += time.Since(killed)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "takeover-s")
}

// TestHighAvailability runs two bridge processes for one Redis: one is
// active, the other stands by. The active one is killed with SIGKILL while
// writes go on; the standby takes over within a few seconds and resyncs, so
// every key ends with its last value.
func TestHighAvailability(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bin := testenv.Build(t, "./cmd/jetsync-bridge")
	rdb := testenv.Redis(t)
	prefix := testenv.Name("p")
	testenv.DeletePrefix(t, rdb, prefix)
	cfg := testConfig(testenv.RedisAddr(), testenv.NATS(t), prefix)

	first, standby := startProcessPair(t, bin, prefix, cfg)
	rec := recordStream(t, cfg)

	// Writes go on while the active bridge dies.
	var wg sync.WaitGroup
	stopWriting := make(chan struct{})
	last := map[string]int{}
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stopWriting:
				return
			default:
			}
			key := fmt.Sprintf("%s:%d", prefix, i%50)
			rdb.HSet(ctx, key, "n", strconv.Itoa(i))
			mu.Lock()
			last[key] = i
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	time.Sleep(500 * time.Millisecond)
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	// It takes over (a generous bound: a loaded machine is slow; how fast is
	// logged, not asserted).
	testenv.Eventually(t, 30*time.Second, func() error {
		if standby.active() != 1 {
			return fmt.Errorf("the standby has not taken over")
		}
		return nil
	})
	t.Logf("standby took over %s after the SIGKILL (lease TTL 2s)", time.Since(killed).Round(10*time.Millisecond))
	time.Sleep(500 * time.Millisecond)
	close(stopWriting)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for key, n := range last {
		rec.waitFor(t, key, func(c change.Change, _ []change.Change) error {
			if c.Fields["n"] != strconv.Itoa(n) {
				return fmt.Errorf("%s: last published n=%s, want %d", key, c.Fields["n"], n)
			}
			return nil
		})
	}
}

// TestOneBridgeActive is TestHighAvailability in one process, with its
// control: of two bridges in one lease group one is active and the other
// stands by, so every change is stored once; when the active one stops, the
// standby takes over and carries on. The control ignores the lease (both
// bridges active) and must see every change stored twice.
func TestOneBridgeActive(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "one active", "lease ignored", func(t *testing.T, control bool) {
		ctx := context.Background()
		rdb := testenv.Redis(t)
		prefix := testenv.Name("p")
		testenv.DeletePrefix(t, rdb, prefix)
		cfg := testConfig(testenv.RedisAddr(), testenv.NATS(t), prefix)
		cfg.HALease, cfg.HATTL, cfg.HAGroup = true, 2*time.Second, prefix
		cfg.hooks.ignoreLease = control

		fctx, stop := context.WithCancel(ctx)
		first, err := New(fctx, cfg, testenv.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- first.Run(fctx) }()
		stopFirst := sync.OnceValue(func() error { stop(); return <-done })
		t.Cleanup(func() { _ = stopFirst() })
		waitActive(t, first, 20*time.Second, "the first bridge is not active yet")
		// Its first resync is done: it cannot publish what comes next twice.
		testenv.Eventually(t, 10*time.Second, func() error {
			mfs, err := first.Registry().Gather()
			if err != nil {
				return err
			}
			for _, mf := range mfs {
				if mf.GetName() == "jetsync_bridge_resyncs_total" && mf.GetMetric()[0].GetCounter().GetValue() >= 1 {
					return nil
				}
			}
			return fmt.Errorf("the first bridge's first resync is not done")
		})
		second := startBridge(t, cfg)
		rec := recordStream(t, cfg)

		const keys = 50
		for i := range keys {
			rdb.HSet(ctx, fmt.Sprintf("%s:%d", prefix, i), "n", "1")
		}
		// stored counts the changes stored for each key.
		stored := func() map[string]int {
			n := map[string]int{}
			for key := range rec.last(t) {
				n[key] = len(rec.changes(t, key))
			}
			return n
		}
		if control {
			testenv.Eventually(t, 10*time.Second, func() error {
				n := stored()
				for i := range keys {
					if key := fmt.Sprintf("%s:%d", prefix, i); n[key] < 2 {
						return fmt.Errorf("control: %s stored %d times; the test cannot tell the lease is what keeps one bridge publishing", key, n[key])
					}
				}
				return nil
			})
			total := 0
			for _, c := range stored() {
				total += c
			}
			t.Logf("control: both bridges active (%v, %v): %d messages stored for %d changes, each at least twice", first.active.Load(), second.active.Load(), total, keys)
			return
		}
		testenv.Eventually(t, 10*time.Second, func() error {
			if n := len(rec.last(t)); n < keys {
				return fmt.Errorf("%d of %d keys carried", n, keys)
			}
			return nil
		})
		time.Sleep(2 * time.Second) // a second publisher's changes would be stored by now
		for key, c := range stored() {
			if c != 1 {
				t.Fatalf("%s stored %d times, want once: more than one bridge publishes", key, c)
			}
		}
		if second.active.Load() {
			t.Fatal("the second bridge is active while the first holds the lease")
		}

		// The active bridge goes away; the standby takes over.
		if err := stopFirst(); err != nil {
			t.Fatal(err)
		}
		waitActive(t, second, 20*time.Second, "the standby has not taken over")
		for i := range keys {
			rdb.HSet(ctx, fmt.Sprintf("%s:%d", prefix, i), "n", "2")
		}
		for i := range keys {
			rec.waitFor(t, fmt.Sprintf("%s:%d", prefix, i), func(last change.Change, _ []change.Change) error {
				if last.Fields["n"] != "2" {
					return fmt.Errorf("last n=%s, want 2", last.Fields["n"])
				}
				return nil
			})
		}
	})
}

// TestLeaseKeepsItsOwnUpdate: a renewal that landed although its reply was
// lost (NATS restarting) leaves the bridge's revision behind; the next
// renewal is refused, and the bridge must see that the lease is still its
// own rather than step down. Also checked across two real NATS restarts.
func TestLeaseKeepsItsOwnUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir, port := t.TempDir(), testenv.FreePort(t)
	ns := testenv.NATSAt(t, port, dir)
	prefix := testenv.Name("p")
	cfg := testConfig(testenv.RedisAddr(), ns.ClientURL(), prefix)
	cfg.HALease, cfg.HATTL, cfg.HAGroup = true, 2*time.Second, prefix
	b, err := New(ctx, cfg, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer b.nc.Close()
	defer b.rdb.Close()
	l, err := b.newLease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !l.acquire(ctx) {
		t.Fatal("no lease")
	}
	// The renewal whose reply was lost:
	if _, err := l.kv.Update(ctx, l.key, []byte(l.id), l.rev); err != nil {
		t.Fatal(err)
	}
	holdCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if l.hold(holdCtx) {
		t.Fatal("the bridge gave up a lease that is still its own")
	}

	// And with real restarts, while running.
	runCtx, stop := context.WithCancel(ctx)
	b2, err := New(ctx, cfg, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	l.release()
	done := make(chan error, 1)
	go func() { done <- b2.Run(runCtx) }()
	defer func() { stop(); <-done }()
	waitActive(t, b2, 5*time.Second, "not active yet")
	for range 2 {
		ns.Shutdown()
		ns.WaitForShutdown()
		ns = testenv.NATSAt(t, port, dir)
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if !b2.active.Load() {
				t.Fatal("the bridge stepped down after a NATS restart")
			}
		}
	}
}

// TestSupportStreamsReplicated: with JETSYNC_STREAM_REPLICAS=3 on a real
// 3-node JetStream cluster, the dead-letter stream, the reply stream and the
// lease bucket have three replicas too, so losing one node stops none of
// them: after the node leading the dead-letter stream is gone the bridge
// still holds its lease, files a dead letter and carries changes. The
// control creates the dead-letter and reply streams with one replica
// (streams.SingleReplicaSupport): stopping the same node must take the
// dead-letter stream down (its info and a publish to it fail) while the
// replicated change stream still carries changes.
func TestSupportStreamsReplicated(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "replicated", "one replica", func(t *testing.T, control bool) {
		ctx := context.Background()
		cluster := testenv.StartNATSCluster(t, 3)
		rdb := testenv.Redis(t)
		prefix := testenv.Name("p")
		testenv.DeletePrefix(t, rdb, prefix)
		cfg := testConfig(testenv.RedisAddr(), cluster.URL(), prefix)
		cfg.Replicas = 3
		cfg.WriteThrough = []string{prefix}
		cfg.HALease, cfg.HATTL, cfg.HAGroup = true, 2*time.Second, prefix
		if control {
			t.Cleanup(streams.SingleReplicaSupport(cfg.StreamConfig.Name))
		}
		b := startBridge(t, cfg)
		waitActive(t, b, 30*time.Second, "the bridge does not hold its lease yet")
		rec := recordStream(t, cfg)

		nc, err := nats.Connect(cluster.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		dlq := streams.DeadLetterStream(cfg.StreamConfig.Name)
		want := map[string]int{dlq: 3, streams.ReplyStream(cfg.StreamConfig.Name): 3, "KV_" + LeaseBucket: 3}
		if control {
			want[dlq], want[streams.ReplyStream(cfg.StreamConfig.Name)] = 1, 1
		}
		for name, replicas := range want {
			s, err := js.Stream(ctx, name)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if r := s.CachedInfo().Config.Replicas; r != replicas {
				t.Errorf("%s has %d replicas, want %d", name, r, replicas)
			}
		}

		// The node to lose: the dead-letter stream's leader (its only
		// node, in the control).
		var leader string
		testenv.Eventually(t, 10*time.Second, func() error {
			s, err := js.Stream(ctx, dlq)
			if err != nil {
				return err
			}
			if c := s.CachedInfo().Cluster; c != nil && c.Leader != "" {
				leader = c.Leader
				return nil
			}
			return fmt.Errorf("%s has no leader yet", dlq)
		})
		stopped := -1
		for i, n := range cluster.Nodes {
			if n != nil && n.Name() == leader {
				stopped = i
			}
		}
		if stopped < 0 {
			t.Fatalf("no node named %q, the leader of %s", leader, dlq)
		}
		cluster.Stop(stopped)
		t.Logf("stopped node %s, the leader of %s", leader, dlq)
		time.Sleep(3 * cfg.HATTL / 2) // longer than a renewal period
		if !control {
			rdb.Set(ctx, prefix+":wrong", "x", 0)
		}
		rdb.HSet(ctx, prefix+":after", "a", "1")
		testenv.Eventually(t, 30*time.Second, func() error {
			if len(rec.changes(t, prefix+":after")) == 0 {
				return fmt.Errorf("%s not carried with one node gone", prefix+":after")
			}
			return nil
		})
		if control {
			// Not even once in 10 s: a stream on the lost node alone stays
			// down until the node is back.
			var infoErr, pubErr error
			for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
				short, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, infoErr = js.Stream(short, dlq)
				_, pubErr = js.Publish(short, streams.DeadLetterRoot+".probe."+prefix, []byte("probe"))
				cancel()
				if infoErr == nil || pubErr == nil {
					t.Fatalf("control: %s, of one replica, answers with its node %s gone (info: %v, publish: %v); the test cannot see a lost support stream", dlq, leader, infoErr, pubErr)
				}
			}
			t.Logf("control: %s down with its node: info: %v; publish: %v", dlq, infoErr, pubErr)
			return
		}
		testenv.Eventually(t, 30*time.Second, func() error {
			s, err := js.Stream(ctx, dlq)
			if err != nil {
				return err
			}
			_, err = s.GetLastMsgForSubject(ctx, "jetsync-dlq.bridge."+prefix+".wrong")
			return err
		})
		if !b.active.Load() {
			t.Error("the bridge lost its lease with one node of three gone")
		}
	})
}

// TestLeaseBucketKeepsItsTTL: a bridge configured with another
// JETSYNC_HA_TTL follows the bucket's TTL instead of changing it under the
// leases of the bridges already running.
func TestLeaseBucketKeepsItsTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := testConfig(testenv.RedisAddr(), testenv.NATS(t), "p")
	open := func(ttl time.Duration) *lease {
		cfg := base
		cfg.HALease, cfg.HATTL = true, ttl
		b, err := New(ctx, cfg, testenv.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.nc.Close(); b.rdb.Close() })
		l, err := b.newLease(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	open(2 * time.Second)
	l := open(7 * time.Second)
	st, err := l.kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != 2*time.Second || l.ttl != 2*time.Second {
		t.Fatalf("bucket TTL %s, second bridge's lease TTL %s; want both 2s (the first bridge's)", st.TTL(), l.ttl)
	}
}

// TestPartitionedBridgeIsFenced: the active bridge's NATS link is
// black-holed (open, silent) while it publishes; the standby takes the lease
// over and publishes a newer state of the key; then the link heals and the
// old bridge's publish arrives. The stream refuses it (its epoch marker is
// no longer the last), so the newer state stays the key's last change. The
// control publishes without an epoch and must see the older state win.
func TestPartitionedBridgeIsFenced(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "fenced", "no epoch", func(t *testing.T, control bool) {
		ctx := context.Background()
		rdb := testenv.Redis(t)
		prefix := testenv.Name("p")
		testenv.DeletePrefix(t, rdb, prefix)
		natsURL := testenv.NATS(t)
		proxy := testenv.NewProxy(t, strings.TrimPrefix(natsURL, "nats://"))
		cfg := testConfig(testenv.RedisAddr(), natsURL, prefix)
		cfg.HALease, cfg.HATTL, cfg.HAGroup = true, 2*time.Second, prefix
		cfg.hooks.noFence = control
		_, b := startHAPair(t, cfg, proxy)
		rec := recordStream(t, cfg)
		key := prefix + ":1"
		rdb.HSet(ctx, key, "n", "0")
		rec.waitFor(t, key, func(change.Change, []change.Change) error { return nil })

		proxy.Blackhole()
		rdb.HSet(ctx, key, "n", "1") // the old bridge reads it and publishes into the hole
		waitActive(t, b, 15*time.Second, "the standby has not taken over")
		rdb.HSet(ctx, key, "n", "2")
		rec.waitFor(t, key, func(last change.Change, _ []change.Change) error {
			if last.Fields["n"] != "2" {
				return fmt.Errorf("last change n=%s, want 2", last.Fields["n"])
			}
			return nil
		})
		proxy.Heal() // the old bridge's publish of n=1 arrives now
		time.Sleep(2 * time.Second)
		// A state older than the newer bridge's, stored after it, is
		// what the fence exists to refuse.
		late := false
		newer := false
		for _, c := range rec.changes(t, key) {
			newer = newer || c.Fields["n"] == "2"
			late = late || newer && c.Fields["n"] != "2"
		}
		if control {
			if !late {
				t.Fatal("control: no older state stored after the newer one; the test cannot tell the fence works")
			}
			return
		}
		if late {
			t.Fatal("an older state of the key was stored after the newer bridge's, once the partition healed")
		}
	})
}
