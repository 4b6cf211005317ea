package sqlsink

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/handlers"
)

// jetsync keeps two tables of its own in the target database, written in the
// same transaction as the rows:
//
//   - jetsync_applied: per function and Redis key (its SHA-256,
//     connectors.KeyHash), the order (handlers.Change.Seq) of the last change
//     applied. A change at or below it is stale (redelivered, replayed, or
//     overtaken by a newer one on another instance) and is not applied.
//     Deleted keys keep their entry, so a stale upsert cannot bring a
//     deleted row back, until Prune drops the entries no change can reach.
//   - jetsync_checkpoints: per function, the highest order applied and when.
//
// Unquoted, so that Oracle's upper-casing finds its JETSYNC_APPLIED.
const (
	AppliedTable     = "jetsync_applied"
	CheckpointsTable = "jetsync_checkpoints"
)

// Dialect is what differs between SQL databases. A connector supplies one;
// the Sink does the rest the same way for all of them.
type Dialect interface {
	Syntax
	// WriteRun writes a run of ops of one table and shape (connectors.Runs)
	// in tx.
	WriteRun(ctx context.Context, tx Tx, run []handlers.Op) error
	// Claim raises the applied order of each of keys (sorted by hash, one
	// entry per key) to at least its Seq, adding an entry for a key that
	// has none, and returns the order each key had before (by
	// string(Hash); absent for a new key, and it may be absent for a key
	// whose order before is below its Min: no change of it is stale). The entries stay locked until tx
	// ends, and what it returns is their latest committed state under every
	// isolation level, so that two instances cannot both take a change for
	// new. It takes its locks in hash order, so that two claims of
	// overlapping keys wait for each other instead of deadlocking.
	Claim(ctx context.Context, tx Tx, function string, keys []Key) (map[string]uint64, error)
	// CheckpointSQL raises the checkpoint of the function Param(1) to the
	// order Param(2) and stamps the time, adding the row if there is none.
	CheckpointSQL() string
	// Classify marks the errors that these rows can never get past as
	// handlers.Permanent and returns every other error as it is.
	Classify(err error) error
}

// Key is one Redis key of a write as the guard stores it, with the orders
// of its newest and oldest change in the write (the same after coalescing).
type Key struct {
	Hash     []byte
	Seq, Min uint64
}

// Sink is a handlers.Sink for a SQL database: Write, Checkpoint, Forget,
// Truncate and Prune written once over a DB and a Dialect.
type Sink struct {
	db DB
	d  Dialect
	// unlocked is a test hook: the guard reads the applied orders with a
	// plain read, without claiming the keys, and raises them after the rows
	// are written (what jetsync's first guard did).
	unlocked bool
	// pause is a test hook: a pause between the guard and the rows, as a
	// slow instance would take.
	pause time.Duration
}

var (
	_ handlers.Sink           = (*Sink)(nil)
	_ handlers.TableTruncater = (*Sink)(nil)
	_ handlers.Forgetter      = (*Sink)(nil)
	_ handlers.Pruner         = (*Sink)(nil)
)

// New returns a Sink writing through db in d's dialect.
func New(db DB, d Dialect) *Sink { return &Sink{db: db, d: d} }

// Close closes the pool.
func (s *Sink) Close() error { return s.db.Close() }

// Write applies w in one transaction: it claims the keys of w's changes
// (Dialect.Claim), returns a *handlers.StaleError and writes nothing when a
// change is not newer than what the function applied for its key, writes
// the ops run by run, and raises the function's checkpoint.
func (s *Sink) Write(ctx context.Context, w handlers.Write) error {
	guarded := w.Function != "" && len(w.Changes) > 0
	if len(w.Ops) == 0 && !guarded {
		return nil
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return s.d.Classify(fmt.Errorf("begin: %w", err))
	}
	if err := s.write(ctx, tx, w, guarded); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return s.d.Classify(fmt.Errorf("commit: %w", err))
	}
	return nil
}

func (s *Sink) write(ctx context.Context, tx Tx, w handlers.Write, guarded bool) error {
	var keys []Key
	var top uint64
	if guarded {
		var hashOf map[string][]byte
		keys, hashOf, top = claims(w)
		var before map[string]uint64
		var err error
		if s.unlocked {
			before, err = s.readApplied(ctx, tx, w.Function, keys)
		} else {
			before, err = s.d.Claim(ctx, tx, w.Function, keys)
		}
		time.Sleep(s.pause)
		if err != nil {
			return s.d.Classify(fmt.Errorf("claim the applied orders of %d keys: %w", len(keys), err))
		}
		var stale []handlers.KeySeq
		for _, c := range w.Changes {
			if seq, ok := before[string(hashOf[c.Key])]; ok && c.Seq <= seq {
				stale = append(stale, c)
			}
		}
		if len(stale) > 0 {
			return &handlers.StaleError{Stale: stale}
		}
	}
	for _, run := range connectors.Runs(w.Ops) {
		if err := s.d.WriteRun(ctx, tx, run); err != nil {
			verb := "upsert into"
			if run[0].Delete {
				verb = "delete from"
			}
			return s.d.Classify(fmt.Errorf("%s %s: %w", verb, s.d.Quote(run[0].Table), err))
		}
	}
	if !guarded {
		return nil
	}
	if s.unlocked {
		if _, err := s.d.Claim(ctx, tx, w.Function, keys); err != nil {
			return s.d.Classify(fmt.Errorf("record applied orders: %w", err))
		}
	}
	if err := tx.Exec(ctx, s.d.CheckpointSQL(), w.Function, int64(top)); err != nil {
		return s.d.Classify(fmt.Errorf("record checkpoint: %w", err))
	}
	return nil
}

// claims returns the keys of w's changes, each with its newest order, in
// hash order; the hash of each key; and the newest order of all (the
// checkpoint). Each key is hashed once.
func claims(w handlers.Write) (keys []Key, hashOf map[string][]byte, top uint64) {
	hashOf = make(map[string][]byte, len(w.Changes))
	at := make(map[string]int, len(w.Changes))
	for _, c := range w.Changes {
		top = max(top, c.Seq)
		if i, ok := at[c.Key]; ok {
			keys[i].Seq, keys[i].Min = max(keys[i].Seq, c.Seq), min(keys[i].Min, c.Seq)
			continue
		}
		h := connectors.KeyHash(c.Key)
		hashOf[c.Key], at[c.Key] = h, len(keys)
		keys = append(keys, Key{Hash: h, Seq: c.Seq, Min: c.Seq})
	}
	slices.SortFunc(keys, func(a, b Key) int { return bytes.Compare(a.Hash, b.Hash) })
	return keys, hashOf, top
}

// keysPerStatement bounds the keys of one guard statement: an IN list or a
// multi-row insert.
const keysPerStatement = 1000

// Chunks calls f with keys in slices of at most keysPerStatement, for
// dialects whose claim statements list the keys.
func Chunks(keys []Key, f func([]Key) error) error {
	for start := 0; start < len(keys); start += keysPerStatement {
		if err := f(keys[start:min(start+keysPerStatement, len(keys))]); err != nil {
			return err
		}
	}
	return nil
}

// readApplied reads the applied orders of keys with a plain read: the
// control guard of the tests (Sink.unlocked), which nothing protects from
// another instance applying the same keys meanwhile.
func (s *Sink) readApplied(ctx context.Context, q Queryer, function string, keys []Key) (map[string]uint64, error) {
	before := make(map[string]uint64, len(keys))
	err := Chunks(keys, func(chunk []Key) error {
		params := make([]string, len(chunk))
		args := []any{function}
		for i, k := range chunk {
			params[i] = s.d.Param(i + 2)
			args = append(args, k.Hash)
		}
		return Each(ctx, q, ScanOrders(before), "SELECT key_hash, seq FROM "+AppliedTable+" WHERE function_name = "+s.d.Param(1)+" AND key_hash IN ("+strings.Join(params, ", ")+")", args...)
	})
	return before, err
}

// Checkpoint returns the highest order function has applied (0: none yet).
func (s *Sink) Checkpoint(ctx context.Context, function string) (uint64, error) {
	var seq int64
	err := Each(ctx, s.db, func(r Rows) error { return r.Scan(&seq) },
		"SELECT seq FROM "+CheckpointsTable+" WHERE function_name = "+s.d.Param(1), function)
	return uint64(seq), err
}

// Forget drops function's applied orders, checkpoint and pruning mark, so
// that a replay from the start of the stream applies everything again.
func (s *Sink) Forget(ctx context.Context, function string) error {
	for _, t := range []string{AppliedTable, CheckpointsTable} {
		if err := s.db.Exec(ctx, "DELETE FROM "+t+" WHERE function_name IN ("+s.d.Param(1)+", "+s.d.Param(2)+")", function, function+prunedSuffix); err != nil {
			return fmt.Errorf("forget the applied orders of %q in %s: %w", function, t, err)
		}
	}
	return nil
}

// prunedSuffix names the checkpoint row that holds a function's pruning
// mark: function names cannot contain "/".
const prunedSuffix = "/pruned"

// Prune drops function's applied orders below horizon and returns how many
// it dropped. A caller passes the lowest order that a change of the
// function can still arrive with; an entry below it can no longer make a
// change stale, so dropping it changes nothing but the table's size (it
// mostly holds deleted keys' entries: a live key's next change adds its
// entry again). It first raises the function's pruning mark to horizon
// (Pruned), so that a change below it that arrives anyway is known.
func (s *Sink) Prune(ctx context.Context, function string, horizon uint64) (int64, error) {
	if err := s.db.Exec(ctx, s.d.CheckpointSQL(), function+prunedSuffix, int64(horizon)); err != nil {
		return 0, s.d.Classify(fmt.Errorf("record the pruning mark of %q: %w", function, err))
	}
	n, err := s.db.ExecCount(ctx, "DELETE FROM "+AppliedTable+" WHERE function_name = "+s.d.Param(1)+" AND seq < "+s.d.Param(2), function, int64(horizon))
	if err != nil {
		return 0, s.d.Classify(fmt.Errorf("prune the applied orders of %q: %w", function, err))
	}
	return n, nil
}

// Pruned returns function's pruning mark: the horizon of its last Prune
// (0: never pruned). Its guard entries below it may be gone.
func (s *Sink) Pruned(ctx context.Context, function string) (uint64, error) {
	return s.Checkpoint(ctx, function+prunedSuffix)
}

// Truncate deletes every row of table (DELETE, not TRUNCATE: it needs only
// the DELETE privilege and is transactional). `jetsync replay --truncate`
// uses it through the table function.
func (s *Sink) Truncate(ctx context.Context, table string) error {
	if err := s.db.Exec(ctx, "DELETE FROM "+s.d.Quote(table)); err != nil {
		return s.d.Classify(fmt.Errorf("delete the rows of %s: %w", s.d.Quote(table), err))
	}
	return nil
}
