package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

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
