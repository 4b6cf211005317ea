package chaos

import (
	"time"
)

// Interval is a span during which the bridge was not subscribed: from just
// before its SIGKILL until its restart reported ready.
type Interval struct{ From, To time.Time }

// Mismatch is a key whose row differs from Redis.
type Mismatch struct {
	ID    string
	Redis []string // nil: no key
	Table []string // nil: no row
}

// QueuedWindow is how long before a bridge SIGKILL a delete may still have
// been queued (read, not yet published) in the killed bridge.
const QueuedWindow = time.Second

// Excuse classifies a mismatch: "down" when the key is gone from Redis, its
// row is not, and its last delete happened while no bridge was subscribed;
// "queued" when that delete was at most QueuedWindow before a SIGKILL (the
// killed bridge held it in memory); "" when nothing excuses it.
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
		if !t.Before(iv.From.Add(-QueuedWindow)) && t.Before(iv.From) {
			return "queued"
		}
	}
	return ""
}
