package bridge

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// A resync finds every key that exists, so an upsert a stopping bridge could
// not publish is found again by the next one. A deletion is not: the key is
// gone. So a bridge that stops (SIGTERM, a lost lease) with deletions still
// queued or in flight hands them over: it appends each key to its prefix's
// handover stream in Redis before it spends its grace publishing, and every
// active bridge reads those streams with the journal's consumer group,
// re-reads each key (a key created again since is an upsert) and
// acknowledges the entry once its change is stored.

// HandoverStream is the Redis stream where stopping bridges leave the
// deletions of prefix they could not publish.
func HandoverStream(prefix string) string { return "jetsync:handover:" + prefix }

// handoverPoll is how often an active bridge looks for handed-over
// deletions after the first read.
const handoverPoll = 2 * time.Second

// handOver appends every deletion still queued or in flight to its prefix's
// handover stream.
func (b *Bridge) handOver(sh *shards) {
	if b.cfg.hooks.noHandover {
		return
	}
	keys := sh.deletions()
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pipe := b.rdb.Pipeline()
	for _, k := range keys {
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: HandoverStream(b.prefixOf(k)), Values: []string{"key", k, "op", "del"}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.log.Error("could not hand the queued deletions over; those not published within the grace are lost", "deletions", len(keys), "err", err)
		return
	}
	b.log.Info("handed the queued deletions over to the next active bridge", "deletions", len(keys))
}

// handoverLoop reads prefix's handover stream until ctx is done and queues
// every key in it as a deletion.
func (b *Bridge) handoverLoop(ctx context.Context, prefix string) {
	b.readGroup(ctx, HandoverStream(prefix), handoverPoll, func(e redis.XMessage) {
		b.queueEntry(ctx, prefix, HandoverStream(prefix), e)
	})
}
