package bridge

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// rgsync's in-band protocol (JETSYNC_RGSYNC): the field '#' of a hash write
// names its operation and an id to acknowledge. At each write notification
// the subscriber takes the operation out of the hash and applies it in
// Redis (jetsync_rgsync_take, journal.lua), so that the next write cannot
// replace it unseen; the worker's read (jetsync_rgsync_read) says what to
// publish. The acknowledgement of a replicated operation is a reply token
// like a write-through call's: the function answers it after its commit,
// and the bridge writes rgsync's {<key>}<id> stream (jetsync_rgsync_ack).

// rgsyncKeys are the keys jetsync_rgsync_take and _read work on: the key,
// its marker (what its last operation kept local) and its pending tokens.
func rgsyncKeys(key string) []string {
	return []string{key, "jetsync:rgsync:" + key, "jetsync:rgsync:tokens:" + key}
}

// rgsyncTokenPrefix starts the reply tokens of rgsync acknowledgements.
const rgsyncTokenPrefix = "rg-"

// speaksRGSync reports whether key's prefix is in JETSYNC_RGSYNC.
func (b *Bridge) speaksRGSync(key string) bool {
	prefix, _, _ := strings.Cut(key, ":")
	return b.cfg.rgsync(prefix)
}

// rgsyncRead is what jetsync_rgsync_read found: nothing to publish (skip),
// the hash's fields (nil: no key), a replicated delete, and the reply
// tokens of the operations' ids taken since the last read.
type rgsyncRead struct {
	skip, delete bool
	fields       map[string]string
	tokens       []string
}

// parseRGSyncRead reads jetsync_rgsync_read's answer.
func parseRGSyncRead(key string, cmd *redis.Cmd) (rgsyncRead, error) {
	v, err := cmd.Slice()
	if err != nil {
		return rgsyncRead{}, err
	}
	kind, _ := v[0].(string)
	str := func(i int) string {
		if i < len(v) {
			s, _ := v[i].(string)
			return s
		}
		return ""
	}
	tokens := func(i int) []string {
		var out []string
		if i < len(v) {
			list, _ := v[i].([]any)
			for _, t := range list {
				out = append(out, fmt.Sprint(t))
			}
		}
		return out
	}
	hash := func(i int) map[string]string {
		flat, _ := v[i].([]any)
		fields := make(map[string]string, len(flat)/2)
		for j := 0; j+1 < len(flat); j += 2 {
			fields[fmt.Sprint(flat[j])] = fmt.Sprint(flat[j+1])
		}
		return fields
	}
	switch kind {
	case "skip":
		return rgsyncRead{skip: true}, nil
	case "gone":
		// Gone with tokens: a '~' to acknowledge, a delete to publish.
		t := tokens(1)
		return rgsyncRead{delete: len(t) > 0, tokens: t}, nil
	case "type":
		return rgsyncRead{}, fmt.Errorf("%w: key %q holds a %s, not a hash", errWrongType, key, str(1))
	case "hash":
		return rgsyncRead{tokens: tokens(1), fields: hash(2)}, nil
	case "bad":
		return rgsyncRead{}, fmt.Errorf("key %q: field # = %q is not an rgsync operation (=, ~, + or -, then an optional id)", key, str(1))
	}
	return rgsyncRead{}, fmt.Errorf("jetsync_rgsync_read of %q answered %v", key, v)
}

// rgsyncStagePrefix starts the keys of rgsync's write-through form: the
// application writes the hash __{<key>} and waits for {<key>}<id>.
const rgsyncStagePrefix = "__{"

// stageRGSync stages the write-through call written as temp (__{<key>}) on
// a prefix that speaks rgsync and accepts write-through calls; the call
// then goes the way of jetsync_write_through. It runs in the subscriber, so
// the calls on one key are staged in the order they were written.
func (b *Bridge) stageRGSync(ctx context.Context, node redis.Cmdable, temp string) {
	key := strings.TrimSuffix(strings.TrimPrefix(temp, rgsyncStagePrefix), "}")
	prefix, _, _ := strings.Cut(key, ":")
	if !strings.HasSuffix(temp, "}") || !b.cfg.rgsync(prefix) || !b.cfg.writesThrough(prefix) {
		return // not rgsync's write-through form on a prefix that takes it
	}
	res, err := node.FCall(ctx, "jetsync_rgsync_stage", []string{temp}).Text()
	if err != nil {
		b.log.Warn("rgsync write-through: cannot stage the call yet; it is staged at the next subscription", "key", temp, "err", err)
		return
	}
	if res == "BADOP" {
		b.log.Error("rgsync write-through: '#' must be = or ~; answered failed", "key", temp)
	}
}

// stageWaiting stages the rgsync write-through calls written while the
// bridge was not subscribed.
func (b *Bridge) stageWaiting(ctx context.Context, node *redis.Client) {
	iter := node.Scan(ctx, 0, rgsyncStagePrefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		b.stageRGSync(ctx, node, iter.Val())
	}
	if err := iter.Err(); err != nil && ctx.Err() == nil {
		b.log.Warn("rgsync write-through: scanning for waiting calls failed", "err", err)
	}
}

// takeRGSync takes the operation out of key's '#' at its write notification
// (see jetsync_rgsync_take). A failure leaves it to the worker's read,
// which takes it then (a later write before that replaces it).
func (b *Bridge) takeRGSync(ctx context.Context, node redis.Cmdable, key string) {
	if err := node.FCall(ctx, "jetsync_rgsync_take", rgsyncKeys(key)).Err(); err != nil && ctx.Err() == nil {
		b.log.Warn("rgsync: cannot take the operation at its notification; the read takes it", "key", key, "err", err)
	}
}
