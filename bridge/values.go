package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge/change"
)

// What a key's value becomes, written once for the bridge and for
// `jetsync-table verify`, which must judge a key exactly as the bridge
// would: its fields, or the reason it is a dead letter.

var errWrongType = errors.New("wrong type")

// fieldsOf turns a read of key (HGETALL for a hash prefix, GET for a json
// or string one) into the change's fields; nil fields: the key is gone.
func fieldsOf(kind, key string, cmd redis.Cmder) (map[string]string, error) {
	switch c := cmd.(type) {
	case *redis.MapStringStringCmd:
		fields, err := c.Result()
		if err != nil {
			return nil, wrongType(err)
		}
		if len(fields) == 0 {
			return nil, nil
		}
		return fields, nil
	case *redis.StringCmd:
		v, err := c.Result()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if err != nil {
			return nil, wrongType(err)
		}
		if kind == typeString {
			return map[string]string{"value": v}, nil
		}
		return jsonFields(key, v)
	}
	return nil, fmt.Errorf("unexpected read %T", cmd)
}

// encodeChange returns the change of key and its body, or why key cannot
// become one that a server of maxPayload stores: no id, invalid UTF-8, a
// subject too long, a body too large.
func encodeChange(key string, op change.Op, fields map[string]string, now time.Time, maxPayload int64) (change.Change, []byte, error) {
	c, err := newChange(key, op, fields, now)
	if err != nil {
		return c, nil, err
	}
	body, err := c.Encode()
	if err != nil {
		return c, nil, err
	}
	if int64(len(body)) > maxPayload-1024 {
		return c, body, fmt.Errorf("the change of key %q is %d bytes; the NATS server's max_payload is %d", key, len(body), maxPayload)
	}
	return c, body, nil
}

// newChange is the change of key, or why it cannot be one whatever its
// size: no id, invalid UTF-8, a subject too long.
func newChange(key string, op change.Op, fields map[string]string, now time.Time) (change.Change, error) {
	c, err := change.New(key, op, fields, now)
	if err != nil {
		return c, err
	}
	if err := validUTF8(key, fields); err != nil {
		return c, err
	}
	if n := len(change.Subject(c.Prefix, c.ID)); n > maxSubject {
		return c, fmt.Errorf("key %q is too long: its subject would be %d bytes, over %d", key, n, maxSubject)
	}
	return c, nil
}

// checkChange is encodeChange's verdict on an upsert of key without its
// body: the change is encoded only when its largest possible body (every
// byte escaped as \u00XX) would not fit.
func checkChange(key string, fields map[string]string, now time.Time, maxPayload int64) error {
	c, err := newChange(key, change.Upsert, fields, now)
	if err != nil {
		return err
	}
	worst := 256 + 6*(len(c.Key)+len(c.Prefix)+len(c.ID))
	for f, v := range fields {
		worst += 6*(len(f)+len(v)) + 8
	}
	if int64(worst) <= maxPayload-1024 {
		return nil
	}
	_, _, err = encodeChange(key, change.Upsert, fields, now, maxPayload)
	return err
}

// measureValue returns how many bytes of field names and values key holds,
// or some number above limit, without reading its values: STRLEN for a
// string, HSTRLEN of every field for a hash (HSCAN pages for one of many
// fields). A key of another type (keyError) measures 0: its read says what
// is wrong with it.
func measureValue(ctx context.Context, rdb redis.Cmdable, kind, key string, limit int64, keyError func(error) bool) (int64, error) {
	keyErr := func(err error) (int64, error) {
		if errors.Is(err, redis.Nil) || err != nil && keyError(err) {
			return 0, nil
		}
		return 0, err
	}
	if kind != typeHash {
		n, err := rdb.StrLen(ctx, key).Result()
		if err != nil {
			return keyErr(err)
		}
		return n, nil
	}
	fields, err := rdb.HLen(ctx, key).Result()
	if err != nil {
		return keyErr(err)
	}
	var n int64
	if fields > 1000 {
		var cursor uint64
		for {
			kv, next, err := rdb.HScan(ctx, key, cursor, "*", 100).Result()
			if err != nil {
				return keyErr(err)
			}
			for _, s := range kv {
				n += int64(len(s))
			}
			if n > limit || next == 0 {
				return n, nil
			}
			cursor = next
		}
	}
	names, err := rdb.HKeys(ctx, key).Result()
	if err != nil {
		return keyErr(err)
	}
	pipe := rdb.Pipeline()
	lens := make([]*redis.IntCmd, len(names))
	for i, f := range names {
		n += int64(len(f))
		lens[i] = pipe.HStrLen(ctx, key, f)
	}
	if len(names) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return keyErr(err)
		}
	}
	for _, l := range lens {
		n += l.Val()
	}
	return n, nil
}

// isWrongType reports whether a read's error is the key's own fault.
func isWrongType(err error) bool { return strings.HasPrefix(err.Error(), "WRONGTYPE") }

// ValidValueType checks a prefix's value type: hash, json or string (see
// Config.Prefixes).
func ValidValueType(kind string) error {
	switch kind {
	case typeHash, typeJSON, typeString:
		return nil
	}
	return fmt.Errorf("value type %q: use hash, json or string", kind)
}

// Value is what the bridge makes of one key when it reads it.
type Value struct {
	Key string
	// Fields are the fields of the key's change; nil when the key does not
	// exist.
	Fields map[string]string
	// Err, when set, says why the key can never be a change: the reason of
	// its dead letter (a wrong type, no id, invalid UTF-8, too large).
	Err error
}

// ReadValues reads keys of a prefix of value type kind as the bridge reads
// them for its changes, judging each as the bridge would for a server of
// maxPayload, and calls f with the values, a batch at a time: a batch holds
// at most batchBytes of values (MEMORY USAGE's estimate; a larger key
// alone), and a key too large for a change is measured without being read.
// Redis's own errors (BUSY, LOADING, a lost connection) are returned; only
// a wrong type is a key's fault.
func ReadValues(ctx context.Context, rdb redis.Cmdable, kind string, keys []string, maxPayload, batchBytes int64, f func([]Value) error) error {
	kindOf := func(string) string { return kind }
	for len(keys) > 0 {
		sizes, tooBig, err := sizeKeys(ctx, rdb, kindOf, keys, maxPayload, isWrongType)
		if err != nil {
			return err
		}
		var values []Value
		var now []string
		var total int64
		rest := len(keys)
		for i, k := range keys {
			if tooBig[i] != nil {
				values = append(values, Value{Key: k, Err: tooBig[i]})
				continue
			}
			if len(now) > 0 && total+sizes[i] > batchBytes {
				rest = i
				break
			}
			total += sizes[i]
			now = append(now, k)
		}
		read, err := readValues(ctx, rdb, kind, now, maxPayload)
		if err != nil {
			return err
		}
		if err := f(append(values, read...)); err != nil {
			return err
		}
		keys = keys[rest:] // rest > 0: a batch takes at least one key
	}
	return nil
}

// sizeKeys pipelines MEMORY USAGE of keys and measures each key that may be
// too large for a change (over maxPayload) without reading it: sizes[i] is
// key i's estimate (0: gone or of another type, keyError), tooBig[i] why it
// can never be a change, nil when it can.
func sizeKeys(ctx context.Context, rdb redis.Cmdable, kindOf func(string) string, keys []string, maxPayload int64, keyError func(error) bool) (sizes []int64, tooBig []error, err error) {
	pipe := rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.MemoryUsage(ctx, k)
	}
	if err := execKeyReads(ctx, pipe, cmds, keyError); err != nil {
		return nil, nil, err
	}
	limit := maxPayload - 1024
	sizes, tooBig = make([]int64, len(keys)), make([]error, len(keys))
	for i, k := range keys {
		sizes[i] = cmds[i].Val()
		if sizes[i] <= limit {
			continue
		}
		n, err := measureValue(ctx, rdb, kindOf(k), k, limit, keyError)
		if err != nil {
			return nil, nil, err
		}
		if n > limit {
			tooBig[i] = fmt.Errorf("key %q holds at least %d bytes; the NATS server's max_payload is %d", k, n, maxPayload)
		}
	}
	return sizes, tooBig, nil
}

// readValues pipelines the reads of keys and judges each value.
func readValues(ctx context.Context, rdb redis.Cmdable, kind string, keys []string, maxPayload int64) ([]Value, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	pipe := rdb.Pipeline()
	cmds := make([]redis.Cmder, len(keys))
	for i, k := range keys {
		if kind == typeHash {
			cmds[i] = pipe.HGetAll(ctx, k)
		} else {
			cmds[i] = pipe.Get(ctx, k)
		}
	}
	if err := execKeyReads(ctx, pipe, cmds, isWrongType); err != nil {
		return nil, err
	}
	out := make([]Value, len(keys))
	now := time.Now().UTC()
	for i, k := range keys {
		out[i].Key = k
		fields, err := fieldsOf(kind, k, cmds[i])
		if errors.Is(err, errWrongType) {
			other, _ := rdb.Type(ctx, k).Result()
			err = fmt.Errorf("key %q holds a %s, not a %s: %w", k, other, kind, err)
		}
		if err == nil && fields != nil {
			err = checkChange(k, fields, now, maxPayload)
		}
		out[i].Fields, out[i].Err = fields, err
	}
	return out, nil
}

// execKeyReads runs pipe and returns the first error of cmds that is not
// the key's own (keyError: a wrong type) or a missing key's.
func execKeyReads[C redis.Cmder](ctx context.Context, pipe redis.Pipeliner, cmds []C, keyError func(error) bool) error {
	if _, err := pipe.Exec(ctx); err != nil {
		for _, cmd := range cmds {
			if err := cmd.Err(); err != nil && !errors.Is(err, redis.Nil) && !keyError(err) {
				return err
			}
		}
	}
	return nil
}

// Masters returns the nodes that hold rdb's keys: the one Redis, or every
// master of a cluster, by address.
func Masters(ctx context.Context, rdb redis.UniversalClient) ([]*redis.Client, error) {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return []*redis.Client{rdb.(*redis.Client)}, nil
	}
	var mu sync.Mutex
	var out []*redis.Client
	err := cc.ForEachMaster(ctx, func(_ context.Context, c *redis.Client) error {
		mu.Lock()
		out = append(out, c)
		mu.Unlock()
		return nil
	})
	slices.SortFunc(out, func(a, b *redis.Client) int { return strings.Compare(a.Options().Addr, b.Options().Addr) })
	return out, err
}
