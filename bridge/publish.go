package bridge

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/bridge/streams"
	"github.com/jetsync/jetsync/infra/platform"
)

// msgSeq numbers the messages of this process; with the run id it makes each
// message's Nats-Msg-Id unique, and the same on every retry of that message.
var msgSeq atomic.Uint64

func newRunID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// work takes batches of dirty keys from q, reads them in one pipeline and
// publishes them, until q is closed and empty or ctx is done. Journal
// entries are acknowledged once the change they caused is stored.
func (b *Bridge) work(ctx context.Context, q *dirtyQueue) {
	var batch []pending
	backoff := platform.Backoff{Min: 50 * time.Millisecond, Max: 5 * time.Second}
	for {
		batch = q.take(b.cfg.Batch, batch[:0])
		if len(batch) == 0 || ctx.Err() != nil {
			return
		}
		if b.cfg.hooks.readLag > 0 {
			time.Sleep(b.cfg.hooks.readLag)
		}
		now, later, big, err := b.sizeUp(ctx, batch)
		var outs []outgoing
		if err == nil {
			outs, err = b.read(ctx, now)
		}
		if err != nil {
			// Redis is unreachable: put the keys back and try again.
			b.m.readErrors.Inc()
			b.log.Warn("reading keys from redis failed; will retry", "keys", len(batch), "err", err)
			for _, p := range batch {
				q.requeue(p)
			}
			q.finished()
			if !backoff.Wait(ctx) {
				return
			}
			continue
		}
		backoff.Reset()
		for _, p := range later {
			q.requeue(p) // over the batch's byte budget: next time
		}
		outs = append(outs, big...)
		if b.cfg.hooks.unsharded && q == b.shards.Load().queues[0] {
			time.Sleep(unshardedLag) // what it read is older than what the others publish meanwhile
		}
		unpublished := b.publish(ctx, outs)
		b.ackJournal(ctx, outs, unpublished)
		q.finished()
	}
}

// unshardedLag is how long the first worker waits before it publishes under
// the unsharded test hook.
const unshardedLag = time.Second

// outgoing is what one dirty key turned into: a message (a change or a dead
// letter; nil when there is nothing to publish) and the journal entries to
// acknowledge once it is stored.
type outgoing struct {
	key  string
	msg  *nats.Msg
	acks []journalEntry
}

// sizeUp looks at the size of every key of batch before anything is read,
// so that a worker holds a bounded number of bytes however large the values
// are: it returns the keys to read now (within JETSYNC_BATCH_BYTES, as
// MEMORY USAGE estimates them; a larger key alone), the keys to read in a
// later batch, and the dead letters of keys too large to ever be a change,
// which are measured without being read whole.
func (b *Bridge) sizeUp(ctx context.Context, batch []pending) (now, later []pending, big []outgoing, err error) {
	if b.cfg.hooks.noSizeCheck {
		return batch, nil, nil, nil
	}
	keys := make([]string, len(batch))
	for i, p := range batch {
		keys[i] = p.key
	}
	sizes, tooBig, err := sizeKeys(ctx, b.rdb, b.kindOf, keys, b.nc.MaxPayload(), b.keyError)
	if err != nil {
		return nil, nil, nil, err
	}
	var total int64
	for i, p := range batch {
		size := sizes[i]
		if tooBig[i] != nil {
			big = append(big, outgoing{key: p.key, acks: p.acks, msg: b.deadLetter(ctx, p.key, tooBig[i], "")})
			continue
		}
		if len(now) > 0 && total+size > b.cfg.BatchBytes {
			later = append(later, p)
			continue
		}
		total += size
		now = append(now, p)
	}
	return now, later, big, nil
}

// read pipelines the reads of every key (HGETALL for hashes, GET for
// strings) and returns the messages to publish: changes, and dead letters of
// keys that cannot become one.
func (b *Bridge) read(ctx context.Context, batch []pending) ([]outgoing, error) {
	pipe := b.rdb.Pipeline()
	cmds := make([]redis.Cmder, len(batch))
	for i, p := range batch {
		if b.speaksRGSync(p.key) {
			cmds[i] = pipe.FCall(ctx, "jetsync_rgsync_read", rgsyncKeys(p.key))
		} else if b.kindOf(p.key) == typeHash {
			cmds[i] = pipe.HGetAll(ctx, p.key)
		} else {
			cmds[i] = pipe.Get(ctx, p.key)
		}
	}
	// Only a wrong type is a key's fault. BUSY, LOADING, CLUSTERDOWN,
	// TRYAGAIN, MASTERDOWN, NOPERM, a lost connection: the whole batch is
	// read again later.
	if err := execKeyReads(ctx, pipe, cmds, b.keyError); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	outs := make([]outgoing, len(batch))
	var read int64 // bytes of values read
	defer func() {
		for peak := b.readPeak.Load(); read > peak && !b.readPeak.CompareAndSwap(peak, read); peak = b.readPeak.Load() {
		}
	}()
	for i, p := range batch {
		outs[i].key, outs[i].acks = p.key, p.acks
		var fields map[string]string
		var err error
		rg := rgsyncRead{}
		if rc, ok := cmds[i].(*redis.Cmd); ok {
			rg, err = parseRGSyncRead(p.key, rc)
			if rg.skip {
				continue
			}
			fields = rg.fields
		} else {
			fields, err = b.value(p.key, cmds[i])
		}
		if err != nil {
			if errors.Is(err, errWrongType) && !b.speaksRGSync(p.key) {
				kind, _ := b.rdb.Type(ctx, p.key).Result()
				err = fmt.Errorf("key %q holds a %s, not a %s: %w", p.key, kind, b.kindOf(p.key), err)
			}
			outs[i].msg = b.deadLetter(ctx, p.key, err, "")
			continue
		}
		fields, stagedDelete, tokens := b.wt.apply(p.key, fields)
		tokens = append(tokens, rg.tokens...)
		op := change.Upsert
		if fields == nil {
			if !p.deletion && !stagedDelete && !rg.delete {
				continue // gone, but not by a deletion (e.g. an ignored expiry)
			}
			op = change.Delete
		}
		c, body, err := encodeChange(p.key, op, fields, now, b.nc.MaxPayload())
		read += int64(len(body))
		if err != nil {
			outs[i].msg = b.deadLetter(ctx, p.key, err, valueDigest(fields))
			continue
		}
		m := nats.NewMsg(change.Subject(c.Prefix, c.ID))
		m.Data = body
		m.Header.Set(jetstream.MsgIDHeader, b.msgID())
		if len(tokens) > 0 {
			m.Header.Set(change.HeaderReply, strings.Join(tokens, ","))
		}
		outs[i].msg = m
	}
	return outs, nil
}

// kindOf is the value type of key's prefix.
func (b *Bridge) kindOf(key string) string {
	prefix, _, _ := strings.Cut(key, ":")
	if k, ok := b.kinds[prefix]; ok {
		return k
	}
	return typeHash
}

// value turns a read into the change's fields; nil fields: the key is gone.
func (b *Bridge) value(key string, cmd redis.Cmder) (map[string]string, error) {
	return fieldsOf(b.kindOf(key), key, cmd)
}

func wrongType(err error) error {
	if isWrongType(err) {
		return fmt.Errorf("%w: %w", errWrongType, err)
	}
	return err
}

// jsonFields maps a JSON object's top-level fields: strings as they are,
// numbers, booleans, objects and arrays as their JSON text, null as absent
// (NULL).
func jsonFields(key, v string) (map[string]string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &obj); err != nil || obj == nil {
		if err == nil {
			err = errors.New("null")
		}
		return nil, fmt.Errorf("key %q does not hold a JSON object: %w", key, err)
	}
	fields := make(map[string]string, len(obj))
	for k, raw := range obj {
		switch {
		case string(raw) == "null":
		case len(raw) > 0 && raw[0] == '"':
			var s string
			_ = json.Unmarshal(raw, &s) // valid: it came from a valid object
			fields[k] = s
		default:
			fields[k] = string(raw)
		}
	}
	return fields, nil
}

// maxSubject bounds a change's subject: the server closes a connection whose
// publish line exceeds its max_control_line (4 KiB by default).
const maxSubject = 3500

// validUTF8 checks that a key and its hash can travel as JSON text without
// being changed: invalid UTF-8 would silently become U+FFFD.
func validUTF8(key string, fields map[string]string) error {
	if !utf8.ValidString(key) {
		return fmt.Errorf("key %q is not valid UTF-8", key)
	}
	for f, v := range fields {
		if !utf8.ValidString(f) {
			return fmt.Errorf("key %q has a field name that is not valid UTF-8: %q", key, f)
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("field %q of key %q is not valid UTF-8 (binary values are not carried)", f, key)
		}
	}
	return nil
}

func (b *Bridge) msgID() string {
	return b.runID + "-" + strconv.FormatUint(msgSeq.Add(1), 10)
}

// DeadLetterFunction is the function name under which the bridge files its
// own dead letters: keys it cannot turn into a change.
const DeadLetterFunction = change.BridgeFunction

// deadLetter returns the dead letter of a key that cannot become a change
// (not a hash, no id): subject jetsync-dlq.bridge.<prefix>.<id-token>, the
// key as the body, the reason and the value's digest (when the value was
// read) in the headers. It returns nil when the last dead letter of the
// subject already files this key for the same reason and value: a poison key
// found again by every resync is filed once.
func (b *Bridge) deadLetter(ctx context.Context, key string, reason error, digest string) *nats.Msg {
	subject := streams.DeadLetterRoot + "." + DeadLetterFunction
	if prefix, id, ok := strings.Cut(key, ":"); ok && change.ValidPrefix(prefix) == nil {
		subject += "." + prefix
		if token := change.IDToken(id); id != "" && len(subject)+len(token) < maxSubject {
			subject += "." + token
		}
	}
	if !b.cfg.hooks.noDeadLetterDedup {
		if last, err := b.dlq.GetLastMsgForSubject(ctx, subject); err == nil &&
			filed(change.ParseDeadLetter(last.Header), key, reason.Error(), digest) {
			b.log.Debug("key is already a dead letter for this value", "key", key, "seq", last.Sequence)
			return nil
		}
	}
	b.log.Error("key dead-lettered", "key", key, "err", reason)
	b.m.deadLetters.Inc()
	m := nats.NewMsg(subject)
	m.Data = []byte(key)
	m.Header.Set(jetstream.MsgIDHeader, b.msgID())
	change.DeadLetter{Function: DeadLetterFunction, Reason: reason.Error(), Key: key, ValueDigest: digest, Time: time.Now()}.SetHeaders(m.Header)
	return m
}

// filed reports whether d files key for reason with the value of digest.
func filed(d change.DeadLetter, key, reason, digest string) bool {
	return d.Key == key && d.Reason == reason && d.ValueDigest == digest
}

// valueDigest identifies a hash's value (nil: none read).
func valueDigest(fields map[string]string) string {
	if fields == nil {
		return ""
	}
	names := make([]string, 0, len(fields))
	for f := range fields {
		names = append(names, f)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, f := range names {
		fmt.Fprintf(h, "%d:%s%d:%s", len(f), f, len(fields[f]), fields[f])
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// keyError reports whether a read's error is the key's own fault (WRONGTYPE),
// rather than Redis's or the connection's.
func (b *Bridge) keyError(err error) bool {
	if b.cfg.hooks.redisErrorsAreKeyErrors {
		var re redis.Error
		return errors.As(err, &re)
	}
	return strings.HasPrefix(err.Error(), "WRONGTYPE")
}

// publish sends the messages of outs asynchronously and waits for every
// PubAck. A message not stored (an error, or no PubAck within
// JETSYNC_PUBLISH_TIMEOUT: lost in a leader change or a reconnect) is sent
// again, with the same Nats-Msg-Id, until it is stored or ctx is done; one
// that can never be stored (over max_payload, refused by the stream's size
// limit) is replaced by its key's dead letter. It returns the messages never
// stored. No newer change of these keys is published meanwhile, because the
// worker takes its next batch only after this returns.
func (b *Bridge) publish(ctx context.Context, outs []outgoing) map[*nats.Msg]bool {
	var todo []*outgoing
	for i := range outs {
		if outs[i].msg != nil {
			todo = append(todo, &outs[i])
		}
	}
	backoff := platform.Backoff{Min: 50 * time.Millisecond, Max: 5 * time.Second}
	for len(todo) > 0 {
		futures := make([]jetstream.PubAckFuture, len(todo))
		var failed []*outgoing
		var lastErr error
		var epoch uint64 // the epoch these publishes expect
		if f := b.fence.Load(); f != nil {
			epoch = f.seq
		}
		refused := false // by the fence
		fail := func(o *outgoing, err error) {
			lastErr = err
			if wrongEpoch(err) {
				refused = true
				failed = append(failed, o)
				return
			}
			if !b.permanentPublishError(err) {
				failed = append(failed, o)
				return
			}
			if strings.HasPrefix(o.msg.Subject, streams.DeadLetterRoot+".") {
				b.log.Error("a dead letter cannot be stored; dropping it", "key", o.key, "err", err)
				return
			}
			sum := sha256.Sum256(o.msg.Data)
			o.msg = b.deadLetter(ctx, o.key, fmt.Errorf("the stream cannot store the change of key %q: %w", o.key, err), hex.EncodeToString(sum[:16]))
			if o.msg != nil {
				failed = append(failed, o)
			}
		}
		for i, o := range todo {
			b.fenced(o.msg)
			f, err := b.js.PublishMsgAsync(o.msg)
			if err != nil {
				fail(o, err)
				continue
			}
			futures[i] = f
		}
		for i, f := range futures {
			if f == nil {
				continue
			}
			select {
			case <-f.Ok():
			case err := <-f.Err():
				fail(todo[i], err)
			case <-ctx.Done():
				b.log.Warn("stopped before publishing; the next start's resync covers these keys", "changes", len(todo))
				return unstored(todo)
			}
		}
		b.m.published.Add(float64(len(todo) - len(failed)))
		if len(failed) == 0 {
			return nil
		}
		if refused && !b.refence(ctx, epoch) {
			return unstored(failed) // another bridge is active: it carries on
		}
		b.m.retries.Add(float64(len(failed)))
		b.log.Warn("publish failed; retrying", "changes", len(failed), "err", lastErr)
		if !backoff.Wait(ctx) {
			return unstored(failed)
		}
		todo = failed
	}
	return nil
}

// permanentPublishError reports whether a message can never be stored, no
// matter how often it is sent.
func (b *Bridge) permanentPublishError(err error) bool {
	if b.cfg.hooks.publishErrorsAreTransient {
		return false
	}
	return errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) ||
		errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum)
}

func unstored(outs []*outgoing) map[*nats.Msg]bool {
	set := make(map[*nats.Msg]bool, len(outs))
	for _, o := range outs {
		set[o.msg] = true
	}
	return set
}
