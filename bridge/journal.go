package bridge

import (
	"cmp"
	"context"
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/infra/platform"
)

// librarySource is the Redis function library applications call in journal
// mode (FCALL jetsync_hset ...) and the bridge in write-through and rgsync
// mode; see journal.lua.
//
//go:embed journal.lua
var librarySource string

var (
	// libraryVersion identifies the library's code: the first 12 hex
	// digits of its SHA-256; jetsync_library_version returns it.
	libraryVersion = fmt.Sprintf("%x", sha256.Sum256([]byte(librarySource)))[:12]
	journalLibrary = strings.Replace(librarySource, "@VERSION@", libraryVersion, 1)
)

// Library returns the jetsync function library as the bridge loads it, for
// an administrator to load with FUNCTION LOAD REPLACE (jetsync-bridge
// library | redis-cli -x FUNCTION LOAD REPLACE) when the bridge's user may
// not.
func Library() string { return journalLibrary }

const (
	journalGroup = "jetsync"
	// journalConsumer is the same for every bridge: only the active one
	// reads, and a successor finds its predecessor's unacknowledged entries.
	journalConsumer = "bridge"
)

// JournalStream is the Redis stream that journals the writes of prefix.
func JournalStream(prefix string) string { return "jetsync:journal:" + prefix }

// loadLibrary makes sure Redis has this version of the jetsync function
// library: when jetsync_library_version answers it, nothing is loaded (the
// bridge's user then needs no FUNCTION right), else the library is loaded
// with FUNCTION LOAD REPLACE.
func loadLibrary(ctx context.Context, rdb redis.UniversalClient, addr string) error {
	have, err := rdb.FCallRO(ctx, "jetsync_library_version", nil).Text()
	if err == nil && have == libraryVersion {
		return nil
	}
	found := "version " + have
	if err != nil {
		found = err.Error()
	}
	if err := rdb.FunctionLoadReplace(ctx, journalLibrary).Err(); err != nil {
		return fmt.Errorf("the jetsync function library %s is not in Redis at %s (jetsync_library_version: %s) and loading it failed: %w; "+
			"let an administrator load it: jetsync-bridge library | redis-cli -x FUNCTION LOAD REPLACE", libraryVersion, addr, found, err)
	}
	return nil
}

// journalLoop reads prefix's journal and marks each journaled key dirty,
// with the entry to acknowledge once its change is stored.
func (b *Bridge) journalLoop(ctx context.Context, prefix string) {
	stream := JournalStream(prefix)
	b.readGroup(ctx, stream, 0, func(e redis.XMessage) {
		b.queueEntry(ctx, prefix, stream, e)
	})
}

// queueEntry marks the key of a journal or handover entry dirty, with the
// entry to acknowledge once its change is stored.
func (b *Bridge) queueEntry(ctx context.Context, prefix, stream string, e redis.XMessage) {
	key, _ := e.Values["key"].(string)
	op, _ := e.Values["op"].(string)
	ack := &journalEntry{stream: stream, id: e.ID}
	if len(e.Values) == 0 {
		// A pending entry someone deleted before the bridge stored it.
		b.gap(prefix, "journal entries removed unread")
	}
	if key == "" || b.prefixOf(key) != prefix {
		b.log.Warn("journal: entry without a key of its prefix; dropping it", "stream", stream, "id", e.ID, "key", key)
		b.ackJournal(ctx, []outgoing{{acks: []journalEntry{*ack}}}, nil)
		return
	}
	b.shards.Load().queue(key).mark(key, op == "del", true, ack)
}

// prefixOf is the prefix of key.
func (b *Bridge) prefixOf(key string) string {
	prefix, _, _ := strings.Cut(key, ":")
	return prefix
}

// readGroup reads stream with the consumer group until ctx is done and hands
// every entry to handle: first the entries a previous bridge took but never
// acknowledged, then new ones, blocking for them (poll 0) or looking every
// poll without holding a connection.
func (b *Bridge) readGroup(ctx context.Context, stream string, poll time.Duration, handle func(redis.XMessage)) {
	backoff := platform.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	next := "0" // pending entries first
	var checked time.Time
	var trimmed int64
	grouped := false // the consumer group exists
	for ctx.Err() == nil {
		if time.Since(checked) > trimCheck {
			checked = time.Now()
			if !b.cfg.hooks.noTrimCheck {
				trimmed = b.checkTrimmed(ctx, stream, trimmed)
			}
			if !b.cfg.hooks.noReclaim {
				b.reclaim(ctx, stream, handle)
			}
		}
		if !grouped {
			if err := b.rdb.XGroupCreateMkStream(ctx, stream, journalGroup, "0").Err(); err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
				if ctx.Err() == nil {
					b.log.Warn("cannot create the consumer group; retrying", "stream", stream, "err", err)
					backoff.Wait(ctx)
				}
				continue
			}
			grouped = true
		}
		args := &redis.XReadGroupArgs{Group: journalGroup, Consumer: journalConsumer, Streams: []string{stream, next}, Count: int64(b.cfg.Batch)}
		switch {
		case next == ">" && poll == 0:
			args.Block = 2 * time.Second
		case next == ">":
			args.Block = -1 // no BLOCK
		}
		res, err := b.rdb.XReadGroup(ctx, args).Result()
		switch {
		case errors.Is(err, redis.Nil):
			if poll > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(poll):
				}
			}
			continue
		case err != nil && strings.HasPrefix(err.Error(), "NOGROUP"):
			// The stream was deleted with what it held: read it all again.
			b.gap(streamPrefix(stream), "stream "+stream+" deleted")
			next, grouped = "0", false
			continue
		case err != nil:
			if ctx.Err() == nil {
				b.log.Warn("read failed; retrying", "stream", stream, "err", err)
				backoff.Wait(ctx)
			}
			continue
		}
		backoff.Reset()
		var entries []redis.XMessage
		if len(res) > 0 {
			entries = res[0].Messages
		}
		if next != ">" {
			if len(entries) == 0 {
				next = ">"
				continue
			}
			next = entries[len(entries)-1].ID
		}
		for _, e := range entries {
			handle(e)
		}
	}
}

// trimCheck is how often a journal is checked for entries removed unread
// and for entries stuck with a bridge that stopped reading them.
const trimCheck = 5 * time.Second

// stuckIdle is how long an entry may stay read and unacknowledged before
// the active bridge takes it again.
const stuckIdle = 20 * time.Second

// reclaim hands every entry of stream that was read more than stuckIdle ago
// and never acknowledged to handle again. Such an entry was taken by a
// bridge that lost its lease while it still read (a partitioned one reads
// on until it notices), or is still in flight here (a second mark of the key
// is harmless). A successor reads the pending entries when it starts; this
// catches those taken after that.
func (b *Bridge) reclaim(ctx context.Context, stream string, handle func(redis.XMessage)) {
	start := "0-0"
	for ctx.Err() == nil {
		msgs, next, err := b.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: stream, Group: journalGroup, Consumer: journalConsumer,
			MinIdle: cmp.Or(b.cfg.hooks.stuckIdle, stuckIdle), Start: start, Count: int64(b.cfg.Batch),
		}).Result()
		if err != nil {
			return // no group yet, or Redis busy: next time
		}
		if len(msgs) > 0 {
			b.log.Info("journal: entries read but never acknowledged; reading them again", "stream", stream, "entries", len(msgs))
		}
		for _, e := range msgs {
			handle(e)
		}
		if next == "0-0" || next == "" {
			return
		}
		start = next
	}
}

// checkTrimmed counts a gap (and resyncs) when entries of stream were
// removed before the group read them (XTRIM, someone else's MAXLEN): the
// group's lag (entries added after the last it read) is then larger than
// the entries the stream still holds beyond those it has read and not yet
// acknowledged. seen identifies the removal already counted (the stream's
// entries-added then); it returns the one now.
func (b *Bridge) checkTrimmed(ctx context.Context, stream string, seen int64) int64 {
	// Both read in one MULTI: an entry added between two separate reads
	// would count in the group's lag but not in the length, a false gap.
	var infoCmd *redis.XInfoStreamCmd
	var groupsCmd *redis.XInfoGroupsCmd
	if _, err := b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		infoCmd, groupsCmd = p.XInfoStream(ctx, stream), p.XInfoGroups(ctx, stream)
		return nil
	}); err != nil {
		return seen // no stream yet, or Redis busy: checked again later
	}
	info, groups := infoCmd.Val(), groupsCmd.Val()
	for _, g := range groups {
		if g.Name == journalGroup && g.Lag > info.Length-g.Pending && info.EntriesAdded != seen {
			b.log.Error("journal entries were removed before the bridge read them; their deletions may be lost",
				"stream", stream, "removed", g.Lag-(info.Length-g.Pending))
			b.gap(streamPrefix(stream), "journal entries removed unread")
			return info.EntriesAdded
		}
	}
	return seen
}

// streamPrefix is the prefix whose journal or staging stream this is.
func streamPrefix(stream string) string {
	for _, root := range []string{JournalStream(""), HandoverStream(""), "jetsync:wt:"} {
		if p, ok := strings.CutPrefix(stream, root); ok {
			return p
		}
	}
	return stream
}

// ackJournal acknowledges and deletes the journal entries of every outgoing
// whose message was stored (or that had nothing to publish).
func (b *Bridge) ackJournal(ctx context.Context, outs []outgoing, unpublished map[*nats.Msg]bool) {
	byStream := map[string][]string{}
	for _, o := range outs {
		if o.msg != nil && unpublished[o.msg] {
			continue
		}
		for _, a := range o.acks {
			byStream[a.stream] = append(byStream[a.stream], a.id)
		}
	}
	if len(byStream) == 0 {
		return
	}
	pipe := b.rdb.Pipeline()
	for stream, ids := range byStream {
		pipe.XAck(ctx, stream, journalGroup, ids...)
		pipe.XDel(ctx, stream, ids...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		// The entries stay pending and are read again at the next start:
		// their keys are published once more, which is harmless.
		b.log.Warn("journal: acknowledging entries failed", "err", err)
	}
}

// gap logs and counts a moment when changes may have been missed, and
// resyncs the prefix.
func (b *Bridge) gap(prefix, why string) {
	b.m.gaps.WithLabelValues(why).Inc()
	b.log.Warn("gap: changes may have been missed; resyncing", "prefix", prefix, "why", why)
	b.requestResync(prefix)
}
