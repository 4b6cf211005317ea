package bridge

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/jetsync/jetsync/bridge/change"
)

// `jetsync-table verify --repair --yes` never writes a table itself: it
// asks the active bridge to publish the current state of the keys whose
// rows differ, as a resync would, so that the change goes the normal way
// (the stream, the function's guards, ordering, dead letters). A row whose
// key is gone becomes a deletion only where the bridge would have deleted
// it: when it deletes rows of expired and evicted keys, or when the request
// says so (--delete-gone); else it stays, as an expired key's row does.

// repairQueue is the queue group of the bridges' repair subscriptions:
// one active bridge answers each request.
const repairQueue = "jetsync-bridge"

// serveRepairs answers repair requests of every prefix until the returned
// stop is called; the bridge serves them while it is active.
func (b *Bridge) serveRepairs(sh *shards) (stop func()) {
	var subs []*nats.Subscription
	for prefix := range b.kinds {
		sub, err := b.nc.QueueSubscribe(change.RepairSubject(prefix), repairQueue, func(m *nats.Msg) {
			reply := b.repair(sh, prefix, m.Data)
			body, _ := json.Marshal(reply)
			if err := m.Respond(body); err != nil {
				b.log.Warn("repair: could not answer", "prefix", prefix, "err", err)
			}
		})
		if err != nil {
			b.log.Error("repair requests cannot be served", "prefix", prefix, "err", err)
			continue
		}
		subs = append(subs, sub)
	}
	return func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}
}

// deletesGone reports whether the bridge deletes the row of a key that
// vanished without a DEL: only when it deletes on expiry and on eviction,
// since a gone key may have gone either way.
func (c Config) deletesGone() bool { return c.OnExpired == "delete" && c.OnEvicted == "delete" }

// repair queues the keys of one request of prefix: each key to be read and
// published, each gone key as a deletion when allowed.
func (b *Bridge) repair(sh *shards, prefix string, data []byte) change.RepairReply {
	var req change.RepairRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return change.RepairReply{Error: fmt.Sprintf("malformed repair request: %v", err)}
	}
	for _, k := range append(append([]string{}, req.Keys...), req.Gone...) {
		if !strings.HasPrefix(k, prefix+":") {
			return change.RepairReply{Error: fmt.Sprintf("key %q is not of prefix %s", k, prefix)}
		}
	}
	var r change.RepairReply
	for _, k := range req.Keys {
		sh.mark(k, false, true)
		r.Republished++
	}
	deleting := req.DeleteGone || b.cfg.deletesGone()
	for _, k := range req.Gone {
		if !deleting {
			r.Kept++
			continue
		}
		sh.mark(k, true, true)
		r.Deleted++
	}
	if r.Kept > 0 {
		r.KeptWhy = fmt.Sprintf("this bridge keeps the rows of expired and evicted keys (JETSYNC_ON_EXPIRED=%s, JETSYNC_ON_EVICTED=%s)", b.cfg.OnExpired, b.cfg.OnEvicted)
	}
	b.log.Info("repair requested", "prefix", prefix, "republished", r.Republished, "deleted", r.Deleted, "kept", r.Kept)
	return r
}
