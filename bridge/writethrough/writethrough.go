// Package writethrough is the Go client of jetsync's write-through: HSet and
// Del return once the backing database has committed the write (and the
// cached key holds it), or with the database's refusal, or with ErrPending
// when the caller's time runs out first.
//
// A call stages the write in Redis with FCALL jetsync_write_through (the
// key itself is not changed yet), then waits with a blocking XREAD on its
// reply stream; Redis's main thread never waits for the database. The
// bridge publishes the staged write (merged with the key's current value),
// the function commits it, and the bridge then writes it into the key and
// answers. The prefix must be listed in the bridge's JETSYNC_WRITE_THROUGH.
//
// Semantics:
//   - nil: the database committed the write, and the key now holds it.
//   - a *RefusedError: the database refused the change for good (too long,
//     wrong type, ...); the key is unchanged and the change is in the
//     dead-letter stream.
//   - ErrPending: no answer in time (the database may be down). The write is
//     not lost: it is applied when the database is back, and the key is
//     updated then.
//   - A field set by a write-through call merges with the key's other fields
//     (a partial update), and its order with write-behind writes of the
//     same key is kept.
package writethrough

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrPending says the write was not answered in time: it is not lost and
// will be applied when the database can take it.
var ErrPending = errors.New("write-through: not committed yet; it will be applied when the database is back")

// RefusedError is the database's permanent refusal of a write.
type RefusedError struct {
	Key, Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("write-through of %s refused by the database: %s", e.Key, e.Reason)
}

// Client makes write-through calls on a Redis client.
type Client struct {
	rdb redis.Cmdable
	// Timeout bounds a call whose context has no deadline (default 5 s).
	Timeout time.Duration
	// TokenPrefix starts every reply token of this client (at most 40
	// letters, digits, '_' and '-'), e.g. "app1-": the caller's ACL user
	// may then stage and read only tokens of its own (README, Security).
	TokenPrefix string
}

// New returns a client that calls rdb.
func New(rdb redis.Cmdable) *Client { return &Client{rdb: rdb, Timeout: 5 * time.Second} }

// HSet sets fields of the hash key (field, value, field, value, ...) and
// returns once the database committed it (see the package doc).
func (c *Client) HSet(ctx context.Context, key string, values ...any) error {
	if len(values) == 0 || len(values)%2 != 0 {
		return fmt.Errorf("write-through HSet of %s: want field, value pairs", key)
	}
	return c.call(ctx, "jetsync_write_through", key, values)
}

// Del deletes key and returns once the database deleted its row.
func (c *Client) Del(ctx context.Context, key string) error {
	return c.call(ctx, "jetsync_write_through_del", key, nil)
}

func (c *Client) call(ctx context.Context, fn, key string, values []any) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(c.Timeout)
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	token := c.TokenPrefix + hex.EncodeToString(b)
	if err := c.rdb.FCall(ctx, fn, []string{key}, append([]any{token}, values...)...).Err(); err != nil {
		return fmt.Errorf("write-through of %s: staging failed: %w", key, err)
	}
	wait := time.Until(deadline)
	if wait < time.Millisecond {
		return fmt.Errorf("%w (key %s)", ErrPending, key)
	}
	res, err := c.rdb.XRead(context.WithoutCancel(ctx), &redis.XReadArgs{
		Streams: []string{"jetsync:reply:" + token, "0"}, Count: 1, Block: wait,
	}).Result()
	if errors.Is(err, redis.Nil) || ctx.Err() != nil {
		return fmt.Errorf("%w (key %s)", ErrPending, key)
	}
	if err != nil {
		return fmt.Errorf("write-through of %s: waiting for the answer: %w (the write is staged and will be applied)", key, err)
	}
	answer := res[0].Messages[0].Values
	if answer["status"] == "done" {
		return nil
	}
	reason, _ := answer["error"].(string)
	return &RefusedError{Key: key, Reason: reason}
}
