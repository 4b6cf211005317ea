package change

import "time"

// What `jetsync-table verify` finds and asks for: written by verify, read
// by the bridge (repair requests) and by the function runtime (the last
// result, as metrics).

// Kinds of difference between a table and Redis.
const (
	// Missing: a key of the prefix has no row.
	Missing = "missing"
	// Different: the row holds other values than the key maps to.
	Different = "different"
	// Gone: a row whose key is not in Redis.
	Gone = "gone"
	// Bad: a key that cannot become a row (a dead letter: a wrong type,
	// invalid UTF-8, a value its column refuses).
	Bad = "bad"
)

// Kinds lists the kinds of difference, in the order reports give them.
var Kinds = []string{Missing, Different, Gone, Bad}

// RepairRoot is the first token of repair requests,
// jetsync-repair.<prefix>; outside Root, which the change stream stores.
const RepairRoot = "jetsync-repair"

// RepairSubject is where the active bridge carrying prefix takes repair
// requests (NATS request and reply).
func RepairSubject(prefix string) string { return RepairRoot + "." + prefix }

// RepairRequest asks the bridge to publish the keys' current state again,
// through the normal path (its read, the stream, the functions' guards).
type RepairRequest struct {
	// Keys are read and published: an upsert, or a delete if gone since.
	Keys []string `json:"keys,omitempty"`
	// Gone are keys whose rows outlive them: published as deletions when
	// DeleteGone is set or the bridge deletes rows of expired and evicted
	// keys; else kept (an expired key's row is not deleted).
	Gone       []string `json:"gone,omitempty"`
	DeleteGone bool     `json:"delete_gone,omitempty"`
}

// RepairReply is the bridge's answer: how many keys it queued for
// publishing, how many as deletions, and how many gone keys it left alone
// (with why, in Kept). Error is set when it did nothing.
type RepairReply struct {
	Republished int    `json:"republished"`
	Deleted     int    `json:"deleted"`
	Kept        int    `json:"kept"`
	KeptWhy     string `json:"kept_why,omitempty"`
	Error       string `json:"error,omitempty"`
}

// VerifyResult is the outcome of a function's last verify, as kept in the
// NATS KV bucket streams.VerifyBucket and exported by the running function
// as jetsync_verify_* metrics.
type VerifyResult struct {
	Function string `json:"function"`
	Prefix   string `json:"prefix"`
	Table    string `json:"table"`
	// Keys of the prefix in Redis and Rows of the table, as read.
	Keys int64 `json:"keys"`
	Rows int64 `json:"rows"`
	// Differences counts the confirmed differences by kind (Kinds).
	Differences map[string]int64 `json:"differences"`
	// Time is when the run began; Seconds how long it took.
	Time    time.Time `json:"time"`
	Seconds float64   `json:"duration_seconds"`
}
