package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// neededEvents returns the notify-keyspace-events classes the bridge needs:
// K (keyspace channels), g (DEL, RENAME, ...), h (hash commands), $ l s z
// (string, list, set and sorted-set commands: values of json and string
// prefixes, and keys of the wrong type), and x / e when expiry / eviction
// delete rows.
func (c Config) neededEvents() string {
	// $, l, s, z: a string, list, set or sorted set written under a prefix
	// becomes a dead letter instead of going unseen (and json and string
	// prefixes need $ anyway).
	need := "Kgh$lsz"
	if c.OnExpired == "delete" {
		need += "x"
	}
	if c.OnEvicted == "delete" {
		need += "e"
	}
	return need
}

// missingEvents returns the classes of need that flags lacks. "A" in flags
// stands for "g$lshzxet".
func missingEvents(flags, need string) string {
	have := flags
	if strings.Contains(flags, "A") {
		have += "g$lshzxet"
	}
	var missing strings.Builder
	for _, c := range need {
		if !strings.ContainsRune(have, c) {
			missing.WriteRune(c)
		}
	}
	return missing.String()
}

// ensureNotifications checks notify-keyspace-events and, when allowed,
// enables what is missing; otherwise it returns an error that says what to do.
func ensureNotifications(ctx context.Context, rdb *redis.Client, c Config, log *slog.Logger) error {
	addr := rdb.Options().Addr
	if !c.Redis.Cluster {
		addr = c.Redis.Where()
	}
	need := c.neededEvents()
	vals, err := rdb.ConfigGet(ctx, "notify-keyspace-events").Result()
	if err != nil {
		return fmt.Errorf("read notify-keyspace-events from Redis at %s (CONFIG GET): %w; "+
			"if CONFIG is not allowed, make sure the server has notify-keyspace-events %q and set JETSYNC_REDIS_CONFIGURE_NOTIFICATIONS=false", addr, err, need)
	}
	flags := vals["notify-keyspace-events"]
	missing := missingEvents(flags, need)
	if missing == "" {
		return nil
	}
	advice := fmt.Sprintf("Redis at %s has notify-keyspace-events %q but jetsync needs %q (K: keyspace channels, g: DEL/RENAME, h: hash commands, $/l/s/z: string/list/set/zset commands, x: expired, e: evicted); "+
		"run CONFIG SET notify-keyspace-events %s on the server (or set it in redis.conf)", addr, flags, need, flags+missing)
	if !c.Redis.ConfigureNotifications {
		return fmt.Errorf("%s, or allow jetsync to do it with JETSYNC_REDIS_CONFIGURE_NOTIFICATIONS=true", advice)
	}
	if err := rdb.ConfigSet(ctx, "notify-keyspace-events", flags+missing).Err(); err != nil {
		return fmt.Errorf("%s: CONFIG SET failed: %w", advice, err)
	}
	log.Info("enabled Redis keyspace notifications", "redis", addr, "was", flags, "now", flags+missing)
	return nil
}

// eventKind is what a keyspace event means for the key's row.
type eventKind int

const (
	skipEvent     eventKind = iota // changes no data (EXPIRE, PERSIST, ignored expiry)
	writeEvent                     // read the key; publish an upsert if it exists
	deletionEvent                  // read the key; publish a delete if it is gone
)

func (c Config) classify(event string) eventKind {
	switch event {
	case "del", "rename_from", "move_from":
		return deletionEvent
	case "expired":
		if c.OnExpired == "delete" {
			return deletionEvent
		}
		return skipEvent
	case "evicted":
		if c.OnEvicted == "delete" {
			return deletionEvent
		}
		return skipEvent
	case "expire", "persist", "new", "hexpire", "hpersist":
		return skipEvent
	default:
		// hset, hsetnx, hdel, hincrby, hincrbyfloat, hexpired, rename_to,
		// restore, copy_to, move_to, and anything a newer Redis adds: the
		// current value tells what happened.
		return writeEvent
	}
}

// configFree reports whether the bridge leaves CONFIG alone: the operator
// set notify-keyspace-events (JETSYNC_REDIS_CONFIGURE_NOTIFICATIONS=false)
// and heartbeats can tell whether notifications flow, so neither CONFIG GET
// nor CONFIG SET is sent and the ACL user needs no +config. In a cluster,
// or with JETSYNC_HEARTBEAT=0, there is no heartbeat and CONFIG GET checks
// the setting.
func (c Config) configFree() bool {
	return !c.Redis.ConfigureNotifications && c.Heartbeat > 0 && !c.Redis.Cluster
}

// advice is what to run when notifications lack the classes of missing.
func (c Config) advice(addr, missing string) string {
	return fmt.Sprintf("Redis at %s sends no keyspace events of class %q, and jetsync needs %q (K: keyspace channels, g: DEL/RENAME, h: hash commands, $/l/s/z: string/list/set/zset commands, x: expired, e: evicted): "+
		"make sure notify-keyspace-events has them (CONFIG SET notify-keyspace-events %s, or redis.conf), or let jetsync set it with JETSYNC_REDIS_CONFIGURE_NOTIFICATIONS=true", addr, missing, c.neededEvents(), c.neededEvents())
}

// probeEvents are, per class, a command the probe runs on its key and the
// event it must hear. "e" (evicted) cannot be caused on purpose: it is not
// probed.
var probeEvents = []struct {
	class, event string
	run          func(ctx context.Context, rdb *redis.Client, key string) error
}{
	{"$", "set", func(ctx context.Context, rdb *redis.Client, key string) error {
		return rdb.Set(ctx, key, "1", time.Minute).Err()
	}},
	{"g", "del", func(ctx context.Context, rdb *redis.Client, key string) error { return rdb.Del(ctx, key).Err() }},
	{"h", "hset", func(ctx context.Context, rdb *redis.Client, key string) error {
		return rdb.HSet(ctx, key, "f", "1").Err()
	}},
	{"l", "lpush", func(ctx context.Context, rdb *redis.Client, key string) error {
		if err := rdb.Del(ctx, key).Err(); err != nil {
			return err
		}
		return rdb.LPush(ctx, key, "1").Err()
	}},
	{"s", "sadd", func(ctx context.Context, rdb *redis.Client, key string) error {
		if err := rdb.Del(ctx, key).Err(); err != nil {
			return err
		}
		return rdb.SAdd(ctx, key, "1").Err()
	}},
	{"z", "zadd", func(ctx context.Context, rdb *redis.Client, key string) error {
		if err := rdb.Del(ctx, key).Err(); err != nil {
			return err
		}
		return rdb.ZAdd(ctx, key, redis.Z{Score: 1, Member: "1"}).Err()
	}},
	{"x", "expired", func(ctx context.Context, rdb *redis.Client, key string) error {
		if err := rdb.Set(ctx, key, "1", time.Millisecond).Err(); err != nil {
			return err
		}
		time.Sleep(5 * time.Millisecond)
		return rdb.Exists(ctx, key).Err() // expires it now: the event
	}},
}

// probeNotifications proves without CONFIG that node sends the keyspace
// events the bridge needs: subscribed to the heartbeat channels, it runs a
// command of each needed class on a key of its own under
// jetsync:heartbeat: and waits (up to 2 s) for each event. What is not
// heard is missing, and the error says what to set.
func probeNotifications(ctx context.Context, node *redis.Client, c Config, runID string) error {
	addr := c.Redis.Where()
	key := HeartbeatKey(runID) + ":probe"
	pattern := fmt.Sprintf("__keyspace@%d__:%s", c.Redis.DB, heartbeatPattern)
	ps := node.PSubscribe(ctx, pattern)
	defer ps.Close()
	if _, err := ps.ReceiveTimeout(ctx, 5*time.Second); err != nil {
		return fmt.Errorf("probe the keyspace notifications of Redis at %s: %w", addr, c.Redis.subscribeNoPerm(err, []string{pattern}))
	}
	need := c.neededEvents()
	want := map[string]string{} // event → class
	for _, p := range probeEvents {
		if strings.Contains(need, p.class) {
			want[p.event] = p.class
		}
	}
	heard := map[string]bool{}
	done := make(chan error, 1)
	go func() {
		for _, p := range probeEvents {
			if strings.Contains(need, p.class) {
				if err := p.run(ctx, node, key); err != nil {
					done <- fmt.Errorf("probe the keyspace notifications of Redis at %s: %w", addr, err)
					return
				}
			}
		}
		done <- node.Del(ctx, key).Err()
	}()
	deadline := time.Now().Add(2 * time.Second)
	for len(heard) < len(want) && time.Now().Before(deadline) {
		msg, err := ps.ReceiveTimeout(ctx, time.Until(deadline))
		if err != nil {
			break
		}
		if m, ok := msg.(*redis.Message); ok && strings.HasSuffix(m.Channel, ":"+key) {
			if _, ok := want[m.Payload]; ok {
				heard[m.Payload] = true
			}
		}
	}
	if err := <-done; err != nil {
		return err
	}
	var missing strings.Builder
	for _, p := range probeEvents {
		if len(heard) == 0 {
			missing.Reset()
			missing.WriteString(need) // nothing at all: K, or everything
			break
		}
		if _, wanted := want[p.event]; wanted && !heard[p.event] && !strings.Contains(missing.String(), p.class) {
			missing.WriteString(p.class)
		}
	}
	if missing.Len() > 0 {
		return errors.New(c.advice(addr, missing.String()))
	}
	return nil
}
