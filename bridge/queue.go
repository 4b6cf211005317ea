package bridge

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// dirtyQueue is one worker's set of keys waiting to be read and published,
// in the order they first became dirty. A key is in it at most once: marking
// a waiting key again only adds the deletion flag and journal entries,
// because the worker reads the key's value when it takes it, which covers
// every event before the read.
type dirtyQueue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	order   []string
	waiting map[string]*pending
	closed  bool
	// stopping: nobody waits for room any more (the bridge is stopping).
	stopping bool
	// inflight is the batch a worker took and has not finished.
	inflight []pending
	// highWater bounds how many keys a resync or the journal may queue;
	// notifications are never held back.
	highWater int
}

// pending is a dirty key: whether a deletion happened since it was last
// read, and the journal entries to acknowledge once its change is stored.
type pending struct {
	key      string
	deletion bool
	acks     []journalEntry
}

// journalEntry is one entry of a prefix's journal stream.
type journalEntry struct {
	stream, id string
}

func newDirtyQueue(highWater int) *dirtyQueue {
	q := &dirtyQueue{waiting: map[string]*pending{}, highWater: highWater}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// mark queues key. With wait set it first waits while the queue is above
// its high-water mark, so a scan of millions of keys stays bounded.
func (q *dirtyQueue) mark(key string, deletion, wait bool, ack *journalEntry) {
	limit := 0
	if wait {
		limit = q.highWater
	}
	q.markBelow(key, deletion, limit, ack)
}

// markBelow queues key, first waiting while the queue holds limit keys or
// more (0: no limit); a key already waiting never waits.
func (q *dirtyQueue) markBelow(key string, deletion bool, limit int, ack *journalEntry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for limit > 0 && !q.closed && !q.stopping && len(q.order) >= limit && q.waiting[key] == nil {
		q.cond.Wait()
	}
	if q.closed {
		return
	}
	p, ok := q.waiting[key]
	if !ok {
		p = &pending{key: key}
		q.waiting[key] = p
		q.order = append(q.order, key)
		q.cond.Broadcast()
	}
	p.deletion = p.deletion || deletion
	if ack != nil {
		p.acks = append(p.acks, *ack)
	}
}

// requeue puts a taken key back (its read failed), with its journal entries.
func (q *dirtyQueue) requeue(p pending) {
	q.mark(p.key, p.deletion, false, nil)
	q.mu.Lock()
	if w, ok := q.waiting[p.key]; ok {
		w.acks = append(w.acks, p.acks...)
	}
	q.mu.Unlock()
}

// take removes up to n keys, waiting for at least one. It returns nothing
// once the queue is closed and empty.
func (q *dirtyQueue) take(n int, into []pending) []pending {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) == 0 && !q.closed {
		q.cond.Wait()
	}
	n = min(n, len(q.order))
	for _, k := range q.order[:n] {
		into = append(into, *q.waiting[k])
		delete(q.waiting, k)
	}
	q.order = q.order[n:]
	if len(q.order) == 0 {
		q.order = nil // let the backing array go after a large resync
	}
	q.inflight = append(q.inflight[:0], into...)
	q.cond.Broadcast()
	return into
}

// finished says the batch taken last is published (or given back).
func (q *dirtyQueue) finished() {
	q.mu.Lock()
	q.inflight = q.inflight[:0]
	q.mu.Unlock()
}

// stop makes every wait for room return, now and later.
func (q *dirtyQueue) stop() {
	q.mu.Lock()
	q.stopping = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// deletions returns the keys waiting or in flight with a deletion not yet
// published.
func (q *dirtyQueue) deletions(into []string) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, p := range q.inflight {
		if p.deletion {
			into = append(into, p.key)
		}
	}
	for _, k := range q.order {
		if q.waiting[k].deletion {
			into = append(into, k)
		}
	}
	return into
}

// close wakes everyone; take drains what is left, then returns nothing.
func (q *dirtyQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

func (q *dirtyQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.order)
}

// shards routes each key to the same queue, always.
type shards struct {
	seed   maphash.Seed
	queues []*dirtyQueue
	// dealt, when set, deals keys round robin instead: the unsharded test
	// hook, under which one key can be in several queues at once.
	dealt *atomic.Uint64
}

func newShards(n, highWater int) *shards {
	s := &shards{seed: maphash.MakeSeed()}
	for range n {
		s.queues = append(s.queues, newDirtyQueue(highWater))
	}
	return s
}

func (s *shards) queue(key string) *dirtyQueue {
	if s.dealt != nil {
		return s.queues[s.dealt.Add(1)%uint64(len(s.queues))]
	}
	return s.queues[maphash.String(s.seed, key)%uint64(len(s.queues))]
}

func (s *shards) mark(key string, deletion, wait bool) {
	s.queue(key).mark(key, deletion, wait, nil)
}

// markNotified queues a notified key, waiting while its queue holds limit
// keys: the subscriber then stops reading and Redis buffers the
// notifications (if it gives up on the subscriber, the reconnect is a gap
// and a resync follows).
func (s *shards) markNotified(key string, deletion bool, limit int) {
	s.queue(key).markBelow(key, deletion, limit, nil)
}

// stop makes every wait for room return: the bridge is stopping.
func (s *shards) stop() {
	for _, q := range s.queues {
		q.stop()
	}
}

// deletions returns every key with a deletion not yet published.
func (s *shards) deletions() []string {
	var keys []string
	for _, q := range s.queues {
		keys = q.deletions(keys)
	}
	return keys
}

func (s *shards) close() {
	for _, q := range s.queues {
		q.close()
	}
}
