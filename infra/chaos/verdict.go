package chaos

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Interval is a span during which the bridge was not subscribed: from just
// before it was stopped until its restart reported ready, or as the run
// observed it. Killed marks the span of a SIGKILL.
type Interval struct {
	From, To time.Time
	Killed   bool
}

// Mismatch is a key whose row differs from Redis.
type Mismatch struct {
	ID    string
	Redis []string // nil: no key
	Table []string // nil: no row
}

// MaxDown bounds each excused interval: no fault the run injects keeps
// every bridge unsubscribed longer (a takeover needs the lease TTL, 3 s, and
// a restart; a NATS restart at most 3 s and a reconnect). A longer interval
// fails the run, so a bridge that stops carrying for good cannot be excused
// by its own outage.
const MaxDown = 30 * time.Second

// QueuedWindow is how long before a bridge SIGKILL a delete may still have
// been queued (read, not yet published) in the killed bridge.
const QueuedWindow = time.Second

// Excuse classifies a mismatch: "down" when the key is gone from Redis, its
// row is not, and its last delete happened while no bridge was subscribed;
// "queued" when that delete was at most QueuedWindow before a SIGKILL (the
// killed bridge held it in memory; a clean stop hands its queue over, so
// nothing before one is excused); "" when nothing excuses it.
func Excuse(m Mismatch, lastDelete map[string]time.Time, down []Interval) string {
	if m.Redis != nil || m.Table == nil {
		return ""
	}
	t, ok := lastDelete[m.ID]
	if !ok {
		return ""
	}
	for _, iv := range down {
		if !t.Before(iv.From) && !t.After(iv.To) {
			return "down"
		}
	}
	for _, iv := range down {
		if iv.Killed && !t.Before(iv.From.Add(-QueuedWindow)) && t.Before(iv.From) {
			return "queued"
		}
	}
	return ""
}

// observe records a sample of key id's f1 (v<sequence>) in maxSeen and
// describes a regression: a sequence below one seen before. lost reports
// whether a sequence is a write Redis may have lost (its replica did not
// confirm it before a failover): going back from it is Redis's loss, not
// jetsync's; it is reported as such (redisLost) and the lower sequence
// becomes the key's baseline.
func observe(maxSeen map[string]int, id, f1 string, lost func(id string, seq int) bool) (regression string, redisLost bool) {
	seq, err := strconv.Atoi(strings.TrimPrefix(f1, "v"))
	if err != nil {
		return "", false
	}
	seen, ok := maxSeen[id]
	if ok && seq < seen {
		if lost != nil && lost(id, seen) {
			maxSeen[id] = seq
			return "", true
		}
		return fmt.Sprintf("key %s: row went from f1=v%d back to v%d", id, seen, seq), false
	}
	maxSeen[id] = seq
	return "", false
}
