package bridge

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// A Redis that restarts, or a replica promoted in its place, comes back with
// notify-keyspace-events as its config file says (usually off): the bridge
// would resubscribe and then hear nothing. nodeWatch notices: the bridge
// writes a heartbeat key every JETSYNC_HEARTBEAT and its own notification
// must come back; when none does for staleBeats heartbeats, the node is deaf:
// the bridge reports not ready, counts a gap, re-asserts the setting (when it
// may) and resyncs every prefix once notifications flow again.
//
// A subscriber waiting for room in a full queue reads nothing, heartbeats
// included; it is behind, not deaf, and is not counted as deaf.
type nodeWatch struct {
	addr    string
	seen    atomic.Int64 // unix nanoseconds of the last sign of life
	blocked atomic.Bool  // the subscriber waits for room in a full queue
	deaf    atomic.Bool
	mu      sync.Mutex
	why     string // while deaf: what the bridge knows
}

// staleBeats is how many heartbeats may go missing before a node is deaf.
const staleBeats = 5

// notifyRecheck is how often the setting is checked without a heartbeat.
const notifyRecheck = 10 * time.Second

// HeartbeatKey is the key a bridge writes to hear its own notifications.
func HeartbeatKey(runID string) string { return heartbeatKeyPrefix + runID }

// heartbeatKeyPrefix starts every bridge's heartbeat keys (and probe keys);
// heartbeatPattern matches them all.
const (
	heartbeatKeyPrefix = "jetsync:heartbeat:"
	heartbeatPattern   = heartbeatKeyPrefix + "*"
)

func (w *nodeWatch) alive() { w.seen.Store(time.Now().UnixNano()) }

func (w *nodeWatch) reason() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.why
}

// heartbeats reports whether this bridge runs heartbeats: on by setting,
// except in a cluster, where one key lives on one master only.
func (b *Bridge) heartbeats() bool { return b.cfg.Heartbeat > 0 && !b.cfg.Redis.Cluster }

// deafNodes reports the first node that is deaf, or nil.
func (b *Bridge) deafNodes() error {
	var err error
	b.watches.Range(func(_, v any) bool {
		w := v.(*nodeWatch)
		if w.deaf.Load() {
			err = fmt.Errorf("Redis at %s: %s", w.addr, w.reason())
			return false
		}
		return true
	})
	return err
}

// heard is called for every heartbeat notification: a deaf node hears again,
// and what was missed meanwhile is found by a resync.
func (b *Bridge) heard(w *nodeWatch) {
	w.alive()
	if w.deaf.Swap(false) {
		b.log.Info("keyspace notifications flow again; resyncing", "redis", w.addr)
		for prefix := range b.kinds {
			b.requestResync(prefix)
		}
	}
}

// watchNode writes the heartbeat (or, without one, checks the setting every
// notifyRecheck) until ctx is done, and turns the node deaf when its
// notifications stop.
func (b *Bridge) watchNode(ctx context.Context, node *redis.Client, w *nodeWatch) {
	every := notifyRecheck
	if b.heartbeats() {
		every = b.cfg.Heartbeat
	}
	key := HeartbeatKey(b.runID)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !b.heartbeats() {
			// No heartbeat: the setting is all there is to look at.
			err := ensureNotifications(ctx, node, b.cfg, b.log)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				b.turnDeaf(w, err.Error())
			} else {
				b.heard(w)
			}
			continue
		}
		if w.blocked.Load() {
			w.alive()
		}
		if err := node.Set(ctx, key, time.Now().UnixNano(), staleBeats*2*every).Err(); err != nil && ctx.Err() == nil {
			b.log.Debug("heartbeat write failed", "redis", w.addr, "err", err)
		}
		silent := time.Since(time.Unix(0, w.seen.Load()))
		if silent < staleBeats*every {
			continue
		}
		why := fmt.Sprintf("no keyspace notification came back for %s (heartbeat key %s)", silent.Round(time.Second), key)
		if b.cfg.configFree() {
			why += ": " + b.cfg.advice(w.addr, b.cfg.neededEvents())
		} else if err := ensureNotifications(ctx, node, b.cfg, b.log); err != nil {
			why += ": " + err.Error()
		} else {
			why += "; notify-keyspace-events is set now"
		}
		if ctx.Err() == nil {
			b.turnDeaf(w, why)
		}
	}
}

// turnDeaf marks w deaf for why; the first time it logs and counts a gap.
func (b *Bridge) turnDeaf(w *nodeWatch, why string) {
	w.mu.Lock()
	w.why = why
	w.mu.Unlock()
	if !w.deaf.Swap(true) {
		b.m.gaps.WithLabelValues("notifications stopped").Inc()
		b.log.Error("keyspace notifications stopped; not ready until they flow again (then a resync follows)", "redis", w.addr, "why", why)
	}
}
