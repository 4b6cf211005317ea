package bridge

import (
	"hash/maphash"
	"sync"
)

// dirtyQueue is one worker's set of keys waiting to be read and published,
// in the order they first became dirty. A key is in it at most once: marking
// a waiting key again only adds the deletion flag, because the worker reads
// the key's value when it takes it, which covers every event before the read.
type dirtyQueue struct {
	mu       sync.Mutex
	cond     *sync.Cond
	order    []string
	deletion map[string]bool
	closed   bool
	// highWater bounds how many keys a resync may queue; events are never held back.
	highWater int
}

func newDirtyQueue(highWater int) *dirtyQueue {
	q := &dirtyQueue{deletion: map[string]bool{}, highWater: highWater}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// mark queues key. With wait set (resync) it first waits while the queue is
// above its high-water mark, so a scan of millions of keys stays bounded.
func (q *dirtyQueue) mark(key string, deletion, wait bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for wait && !q.closed && len(q.order) >= q.highWater {
		q.cond.Wait()
	}
	if q.closed {
		return
	}
	if d, ok := q.deletion[key]; ok {
		q.deletion[key] = d || deletion
		return
	}
	q.deletion[key] = deletion
	q.order = append(q.order, key)
	q.cond.Broadcast()
}

// take removes up to n keys, waiting for at least one. It returns nil once
// the queue is closed and empty.
func (q *dirtyQueue) take(n int, into []pending) []pending {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) == 0 && !q.closed {
		q.cond.Wait()
	}
	n = min(n, len(q.order))
	for _, k := range q.order[:n] {
		into = append(into, pending{key: k, deletion: q.deletion[k]})
		delete(q.deletion, k)
	}
	q.order = q.order[n:]
	if len(q.order) == 0 {
		q.order = nil // let the backing array go after a large resync
	}
	q.cond.Broadcast()
	return into
}

// close wakes everyone; take drains what is left, then returns nil.
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

type pending struct {
	key      string
	deletion bool
}

// shards routes each key to the same queue, always.
type shards struct {
	seed   maphash.Seed
	queues []*dirtyQueue
}

func newShards(n, highWater int) *shards {
	s := &shards{seed: maphash.MakeSeed()}
	for range n {
		s.queues = append(s.queues, newDirtyQueue(highWater))
	}
	return s
}

func (s *shards) mark(key string, deletion, wait bool) {
	s.queues[maphash.String(s.seed, key)%uint64(len(s.queues))].mark(key, deletion, wait)
}

func (s *shards) close() {
	for _, q := range s.queues {
		q.close()
	}
}
