package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge/streams"
	"github.com/jetsync/jetsync/infra/platform"
)

// Bridge carries changes of the configured prefixes from Redis to JetStream.
type Bridge struct {
	cfg Config
	log *slog.Logger
	rdb redis.UniversalClient
	nc  *nats.Conn
	js  jetstream.JetStream
	dlq jetstream.Stream
	// shards are the queues of the current activation.
	shards atomic.Pointer[shards]
	// resync has one signal channel per prefix; a signal while a resync of
	// that prefix runs makes it run once more.
	resync map[string]chan struct{}
	// kinds maps each prefix to its value type.
	kinds map[string]string
	runID string
	reg   *prometheus.Registry
	m     *metrics
	// subscribed counts (node, prefix) subscriptions confirmed; expected is
	// how many there should be (prefixes × masters).
	subscribed, expected atomic.Int32
	// active is true while this bridge holds the lease (or runs without HA).
	active atomic.Bool
	// wt holds the write-through writes staged per key and not yet answered.
	wt staging
	// answerers caches the prefix each answering function consumes
	// (replyLoop's alone).
	answerers map[string]string
	// watches holds a *nodeWatch per subscribed node (by address).
	watches sync.Map
	// unready holds, per cluster master not subscribed, why (a string).
	unready sync.Map
	// readPeak is the most bytes of values one batch read.
	readPeak atomic.Int64
	// fence is the current activation's epoch (nil: not fencing);
	// refenceMu serializes the workers' reactions to a refused publish.
	fence     atomic.Pointer[fence]
	refenceMu sync.Mutex
}

// Registry holds the bridge's metrics (served on JETSYNC_HTTP_ADDR).
func (b *Bridge) Registry() *prometheus.Registry { return b.reg }

// Ready reports why the bridge is not ready, or nil: it is ready when it is
// connected to NATS and, when active, subscribed for every prefix. A standby
// is ready: it is doing its job.
func (b *Bridge) Ready() error {
	if n, want := b.subscribed.Load(), b.expected.Load(); b.active.Load() && (n < want || want == 0) {
		why := ""
		b.unready.Range(func(addr, err any) bool {
			why = fmt.Sprintf("; Redis at %s is not carried: %s", addr, err)
			return false
		})
		return fmt.Errorf("%d of %d subscriptions (prefixes × masters) confirmed%s", n, want, why)
	}
	if !b.nc.IsConnected() {
		return errors.New("not connected to NATS")
	}
	if b.active.Load() {
		return b.deafNodes()
	}
	return nil
}

// New connects to Redis and NATS, checks the keyspace notification setting
// and creates or updates the stream. Every error it returns is one a person
// has to act on.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Bridge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rdb := cfg.Redis.Client(cfg.Workers+4, log)
	b := &Bridge{cfg: cfg, log: log, rdb: rdb, resync: map[string]chan struct{}{}, runID: newRunID()}
	b.active.Store(!cfg.HALease)
	b.kinds = map[string]string{}
	for _, p := range cfg.specs() {
		b.resync[p.name] = make(chan struct{}, 1)
		b.kinds[p.name] = p.kind
	}
	b.reg = platform.NewRegistry()
	b.m = newMetrics(b.reg, func() float64 {
		n := 0
		sh := b.shards.Load()
		if sh == nil {
			return 0
		}
		for _, q := range sh.queues {
			n += q.len()
		}
		return float64(n)
	}, func() float64 {
		if b.active.Load() {
			return 1
		}
		return 0
	})
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("connect to Redis at %s: %w", cfg.Redis.Where(), err)
	}
	nodes, err := b.nodes(ctx)
	if err == nil {
		for _, n := range nodes {
			if cfg.configFree() {
				err = probeNotifications(ctx, n, cfg, b.runID)
			} else {
				err = ensureNotifications(ctx, n, cfg, log)
			}
			if err != nil {
				break
			}
		}
	}
	if err != nil {
		rdb.Close()
		return nil, err
	}
	if len(cfg.Journal) > 0 || cfg.answers() {
		if err := loadLibrary(ctx, rdb, cfg.Redis.Where()); err != nil {
			rdb.Close()
			return nil, err
		}
	}
	// No reconnect buffer: a publish made while disconnected fails at once
	// and is retried, instead of being stored later, after newer ones.
	nc, err := cfg.NATS.Connect("jetsync-bridge", log, nats.ReconnectBufSize(-1))
	if err != nil {
		rdb.Close()
		return nil, err
	}
	jsOpts := []jetstream.JetStreamOpt{jetstream.WithPublishAsyncMaxPending(cfg.Workers * cfg.Batch)}
	if !cfg.hooks.noPublishTimeout {
		jsOpts = append(jsOpts, jetstream.WithPublishAsyncTimeout(cfg.PublishTimeout))
	}
	js, err := jetstream.New(nc, jsOpts...)
	if err == nil {
		_, err = streams.EnsureStream(ctx, js, cfg.StreamConfig)
	}
	var dlq jetstream.Stream
	if err == nil {
		dlq, err = streams.EnsureDeadLetterStream(ctx, js, cfg.StreamConfig.Name, cfg.Replicas)
	}
	if err == nil && cfg.answers() {
		_, err = streams.EnsureReplyStream(ctx, js, cfg.StreamConfig.Name, cfg.Replicas)
	}
	if err != nil {
		nc.Close()
		rdb.Close()
		return nil, err
	}
	b.nc, b.js, b.dlq = nc, js, dlq
	return b, nil
}

// Run serves until ctx is done. With HA leases on (the default) it first
// takes the lease of its Redis from the NATS KV bucket, waiting as a standby
// while another bridge holds it, and steps down when it loses it; while it
// holds it, it subscribes, resyncs and publishes. When ctx ends it publishes
// what it has already read (for at most ShutdownGrace), releases the lease
// and closes.
func (b *Bridge) Run(ctx context.Context) error {
	defer b.rdb.Close()
	defer b.nc.Close()
	stopHTTP, err := b.cfg.HTTPConfig.Serve(b.reg, b.Ready, b.log)
	if err != nil {
		return err
	}
	defer stopHTTP()
	if !b.cfg.HALease || b.cfg.hooks.ignoreLease {
		b.active.Store(true)
		return b.runActive(ctx, context.Background())
	}
	l, err := b.newLease(ctx)
	for backoff := (platform.Backoff{Min: 500 * time.Millisecond, Max: 5 * time.Second}); err != nil; l, err = b.newLease(ctx) {
		// JetStream without a leader (a cluster forming or failing over)
		// answers nothing for a while: wait for it as a standby.
		b.log.Warn("cannot open the lease bucket yet; standing by", "err", err)
		if !backoff.Wait(ctx) {
			return nil
		}
	}
	announced, stopAnnouncing := context.WithCancel(context.WithoutCancel(ctx))
	go l.announce(announced)
	defer stopAnnouncing()
	for ctx.Err() == nil {
		if !l.acquire(ctx) {
			break
		}
		b.active.Store(true)
		activeCtx, cancel := context.WithCancel(ctx)
		// fenced ends the moment the lease is lost: from then on another
		// bridge may be active, and nothing more is published.
		fenced, fence := context.WithCancel(context.Background())
		lost := make(chan bool, 1)
		go func() {
			gone := l.hold(activeCtx)
			if gone {
				fence()
				cancel()
			}
			lost <- gone
		}()
		b.startFence(activeCtx, l, func() { fence(); cancel() })
		err = b.runActive(activeCtx, fenced)
		cancel()
		fence()
		b.fence.Store(nil)
		b.active.Store(false)
		if <-lost { // also waits for hold to stop touching the lease
			b.log.Warn("lost the lease; standing by", "lease", l.key)
			continue
		}
		if err != nil {
			break
		}
	}
	l.release()
	return err
}

// maxQueued is how many keys one worker's queue holds before the subscriber
// waits for room.
func (b *Bridge) maxQueued() int { return 32 * b.cfg.Batch }

// runActive subscribes, resyncs and publishes until ctx is done; it
// publishes nothing once fenced is done (the lease is lost).
//
// Stopping is ordered so that no deletion is lost: the subscribers read
// what Redis already sent them (up to a PING they send), the deletions
// still queued or in flight are handed over to the next active bridge, and
// then what was read is published for at most ShutdownGrace; upserts left
// over are found by the next start's resync.
func (b *Bridge) runActive(ctx, fenced context.Context) error {
	sh := newShards(b.cfg.Workers, 4*b.cfg.Batch)
	if b.cfg.hooks.unsharded {
		sh.dealt = new(atomic.Uint64)
	}
	b.shards.Store(sh)
	stopWaiting := context.AfterFunc(ctx, sh.stop) // a full queue stops no one from stopping
	defer stopWaiting()
	pubCtx, cancelPub := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelPub()
	stopFenced := context.AfterFunc(fenced, cancelPub)
	defer stopFenced()
	var workers sync.WaitGroup
	for _, q := range sh.queues {
		workers.Add(1)
		go func() {
			defer workers.Done()
			b.work(pubCtx, q)
		}()
	}
	var resyncs sync.WaitGroup
	loop := func(f func()) {
		resyncs.Add(1)
		go func() {
			defer resyncs.Done()
			f()
		}()
	}
	for prefix, sig := range b.resync {
		loop(func() { b.resyncLoop(ctx, prefix, sig) })
		loop(func() { b.handoverLoop(ctx, prefix) })
		if b.cfg.journaled(prefix) {
			loop(func() { b.journalLoop(ctx, prefix) })
		}
		if b.cfg.writesThrough(prefix) {
			loop(func() { b.stagedLoop(ctx, prefix) })
		}
	}
	if b.cfg.answers() {
		loop(func() { b.replyLoop(ctx) })
	}
	loop(func() { b.watchStream(ctx) })
	stopRepairs := b.serveRepairs(sh)

	err := b.subscribe(ctx)
	stopRepairs()

	resyncs.Wait()
	b.handOver(sh)
	sh.close()
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(b.cfg.ShutdownGrace):
		cancelPub()
		<-done
		b.log.Warn("shutdown grace over; upserts still queued are resynced at the next start, deletions were handed over", "grace", b.cfg.ShutdownGrace)
	}
	if err := b.nc.FlushTimeout(time.Second); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		b.log.Warn("nats flush", "err", err)
	}
	return err
}

// subscribe receives the keyspace notifications of every master until ctx
// is done: of the one Redis, or of each master of a cluster, following its
// topology.
func (b *Bridge) subscribe(ctx context.Context) error {
	if b.cfg.Redis.Cluster {
		return b.watchCluster(ctx)
	}
	b.expected.Store(int32(len(b.kinds)))
	return b.subscribeNode(ctx, b.rdb.(*redis.Client))
}

// subscribeNode receives keyspace notifications of one Redis node until ctx
// is done. Every subscription confirmation (the first one and each one after
// go-redis reconnected) triggers a resync of its prefix; one after a
// reconnect is also counted as a gap.
func (b *Bridge) subscribeNode(ctx context.Context, node *redis.Client) error {
	patterns := make([]string, 0, len(b.kinds)+1)
	byPattern := map[string]string{}
	for p := range b.kinds {
		pat := fmt.Sprintf("__keyspace@%d__:%s:*", b.cfg.Redis.DB, p)
		patterns = append(patterns, pat)
		byPattern[pat] = p
	}
	chanPrefix := fmt.Sprintf("__keyspace@%d__:", b.cfg.Redis.DB)
	beat := HeartbeatKey(b.runID)
	if b.heartbeats() {
		// Every bridge's heartbeats: an ACL allows a PSUBSCRIBE pattern
		// only literally, and this one is the same for every run.
		patterns = append(patterns, chanPrefix+heartbeatPattern)
	}
	stagePattern := chanPrefix + rgsyncStagePrefix + "*"
	if b.cfg.rgsyncWriteThrough() {
		patterns = append(patterns, stagePattern)
	}
	w := &nodeWatch{addr: node.Options().Addr}
	if !b.cfg.Redis.Cluster {
		w.addr = b.cfg.Redis.Where()
	}
	w.alive()
	b.watches.Store(w.addr, w)
	defer b.watches.Delete(w.addr)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if !b.cfg.hooks.noNotifyWatch {
		go b.watchNode(watchCtx, node, w)
	}

	ps := node.PSubscribe(ctx, patterns...)
	var subscribed int32 // prefixes confirmed on this node
	defer func() { b.subscribed.Add(-subscribed) }()
	// Stopping: read what Redis has already sent, up to the answer of a
	// PING sent now, while messages keep coming (drainIdle), for at most
	// drainMax.
	drained := time.AfterFunc(time.Hour, func() { ps.Close() })
	drained.Stop()
	var drainUntil atomic.Int64
	stop := context.AfterFunc(ctx, func() {
		drainUntil.Store(time.Now().Add(drainMax).UnixNano())
		drained.Reset(drainIdle)
		if b.cfg.hooks.noHandover || ps.Ping(context.Background(), drainPing) != nil {
			ps.Close()
		}
	})
	defer stop()
	defer ps.Close()
	defer drained.Stop()

	backoff := platform.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	reconnected := false // notifications were lost between the failure and the new subscription
	reasserted := false  // the setting was checked since the reconnect
	for {
		msg, err := ps.ReceiveTimeout(context.WithoutCancel(ctx), 15*time.Second)
		if err != nil && ctx.Err() != nil {
			return nil
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Quiet channel: make sure the connection is still alive.
				if err := ps.Ping(ctx); err != nil {
					b.log.Warn("redis pubsub ping failed; reconnecting", "err", err)
				}
				continue
			}
			b.subscribed.Add(-subscribed)
			subscribed = 0
			reconnected, reasserted = true, false
			if isNoPerm(err) {
				b.log.Error("redis pubsub refused; retrying", "err", b.cfg.Redis.subscribeNoPerm(err, patterns))
			} else {
				b.log.Warn("redis pubsub receive failed; reconnecting", "err", err)
			}
			if !backoff.Wait(ctx) {
				return nil
			}
			continue
		}
		backoff.Reset()
		if ctx.Err() != nil && time.Now().UnixNano() < drainUntil.Load() {
			drained.Reset(drainIdle)
		}
		switch m := msg.(type) {
		case *redis.Pong:
			if m.Payload == drainPing && ctx.Err() != nil {
				return nil // read all Redis sent before the bridge began to stop
			}
		case *redis.Subscription:
			if m.Kind == "psubscribe" && m.Channel == stagePattern {
				go b.stageWaiting(ctx, node) // written while not subscribed
			}
			if m.Kind == "psubscribe" {
				if prefix, ok := byPattern[m.Channel]; ok {
					if reconnected && !reasserted && !b.cfg.hooks.noNotifyWatch && !b.cfg.configFree() {
						// A restarted Redis, or a replica promoted in its
						// place, may have notifications off: set them again
						// before the resync, so that nothing after it is missed.
						// Without CONFIG the heartbeat tells.
						reasserted = true
						if err := ensureNotifications(ctx, node, b.cfg, b.log); err != nil {
							b.turnDeaf(w, err.Error())
						}
					}
					b.subscribed.Add(1)
					subscribed++
					if reconnected {
						b.gap(prefix, "pubsub reconnect")
					} else {
						b.log.Info("subscribed; resyncing prefix", "prefix", prefix, "pattern", m.Channel)
						b.requestResync(prefix)
					}
					if int(subscribed) == len(byPattern) {
						reconnected = false
					}
				}
			}
		case *redis.Message:
			key := strings.TrimPrefix(m.Channel, chanPrefix)
			if key == beat {
				b.heard(w)
				continue
			}
			if strings.HasPrefix(key, heartbeatKeyPrefix) {
				continue // another bridge's heartbeat, or a probe
			}
			if strings.HasPrefix(key, rgsyncStagePrefix) {
				if b.cfg.classify(m.Payload) == writeEvent {
					b.stageRGSync(ctx, node, key)
				}
				continue
			}
			kind := b.cfg.classify(m.Payload)
			switch kind {
			case writeEvent:
				b.m.events.WithLabelValues("write").Inc()
			case deletionEvent:
				b.m.events.WithLabelValues("deletion").Inc()
			default:
				b.m.events.WithLabelValues("skip").Inc()
				continue
			}
			if kind == writeEvent && b.speaksRGSync(key) && !b.cfg.hooks.noRGSyncTake {
				b.takeRGSync(ctx, node, key)
			}
			w.blocked.Store(true)
			b.shards.Load().markNotified(key, kind == deletionEvent, b.maxQueued())
			w.blocked.Store(false)
		}
	}
}

// drainPing is the payload of the PING a stopping subscriber reads up to;
// it gives up when nothing came for drainIdle, or after drainMax.
const (
	drainPing = "jetsync-drain"
	drainIdle = 2 * time.Second
	drainMax  = 30 * time.Second
)

func (b *Bridge) requestResync(prefix string) {
	if b.cfg.hooks.noResync {
		return
	}
	select {
	case b.resync[prefix] <- struct{}{}:
	default: // one is already pending
	}
}

// resyncLoop SCANs prefix each time it is signalled and queues every key of
// the prefix's type, waiting for room in the queues so that memory stays
// bounded.
func (b *Bridge) resyncLoop(ctx context.Context, prefix string, sig <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		}
		start := time.Now()
		n, err := b.scan(ctx, prefix)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			b.log.Warn("resync failed; retrying", "prefix", prefix, "keys", n, "err", err)
			time.Sleep(time.Second)
			b.requestResync(prefix)
			continue
		}
		b.m.resyncs.Inc()
		b.m.resynced.Add(float64(n))
		b.log.Info("resync queued", "prefix", prefix, "keys", n, "took", time.Since(start).Round(time.Millisecond))
	}
}

func (b *Bridge) scan(ctx context.Context, prefix string) (int, error) {
	nodes, err := b.nodes(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, node := range nodes {
		var cursor uint64
		for {
			keys, next, err := node.ScanType(ctx, cursor, prefix+":*", 1000, prefixSpec{kind: b.kinds[prefix]}.redisType()).Result()
			if err != nil {
				return n, err
			}
			for _, k := range keys {
				b.shards.Load().mark(k, false, true)
			}
			n += len(keys)
			if next == 0 {
				break
			}
			cursor = next
		}
	}
	return n, nil
}
