package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"github.com/jetsync/jetsync/handlers"
)

// jetsync keeps two tables of its own in the target database, written in the
// same transaction as the rows:
//
//   - jetsync_applied: per function and Redis key (as a SHA-256), the stream
//     sequence of the last change applied. A change at or below it is stale
//     (redelivered, replayed, or overtaken by a newer one on another
//     instance) and is not applied. Deleted keys keep their entry, so a stale
//     upsert cannot bring a deleted row back.
//   - jetsync_checkpoints: per function, the highest sequence applied and when.
const (
	appliedTable     = "jetsync_applied"
	checkpointsTable = "jetsync_checkpoints"
	// keysPerStatement bounds an IN list or a multi-row insert of keys.
	keysPerStatement = 5000
)

// createStateTables creates the state tables unless both exist, so that a
// user without the CREATE privilege works once a DBA has created them.
func createStateTables(ctx context.Context, db *sql.DB) error {
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?, ?)",
		appliedTable, checkpointsTable).Scan(&n); err != nil {
		return err
	}
	if n == 2 {
		return nil
	}
	for _, ddl := range []string{
		"CREATE TABLE IF NOT EXISTS " + appliedTable + ` (
  function_name VARCHAR(255) NOT NULL,
  key_hash      BINARY(32) NOT NULL,
  seq           BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (function_name, key_hash)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4`,
		"CREATE TABLE IF NOT EXISTS " + checkpointsTable + ` (
  function_name VARCHAR(255) NOT NULL PRIMARY KEY,
  seq           BIGINT UNSIGNED NOT NULL,
  updated_at    DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4`,
	} {
		if _, err := db.ExecContext(ctx, ddl); err != nil {
			return err
		}
	}
	return nil
}

// staleChanges locks the applied sequences of w's keys and returns the
// changes that are not newer than them. It first claims a row for every key
// (sequence 0 for a key never applied) with INSERT ... ON DUPLICATE KEY
// UPDATE, which takes an exclusive lock on each row, new or not: a locking
// read of a row that does not exist locks nothing under READ COMMITTED (two
// instances would both take a new key for unapplied, and the older change
// could commit last) and a gap under REPEATABLE READ (shared by both, then
// an insert into it deadlocks). Rows are claimed in key-hash order, the
// index's order, so two writes of overlapping keys wait for each other
// instead of deadlocking. The read that follows locks nothing new.
func staleChanges(ctx context.Context, tx *sql.Tx, w handlers.Write) ([]handlers.KeySeq, error) {
	hashes := map[string][]byte{}
	keys := make([][]byte, 0, len(w.Changes))
	for _, c := range w.Changes {
		if _, ok := hashes[c.Key]; !ok {
			hashes[c.Key] = handlers.KeyHash(c.Key)
			keys = append(keys, hashes[c.Key])
		}
	}
	slices.SortFunc(keys, bytes.Compare)
	applied := make(map[string]uint64, len(keys))
	for start := 0; start < len(keys); start += keysPerStatement {
		chunk := keys[start:min(start+keysPerStatement, len(keys))]
		args := make([]any, 0, 2*len(chunk))
		for _, h := range chunk {
			args = append(args, w.Function, h)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+appliedTable+" (function_name, key_hash, seq) VALUES "+
			strings.TrimSuffix(strings.Repeat("(?, ?, 0), ", len(chunk)), ", ")+" ON DUPLICATE KEY UPDATE seq = seq", args...); err != nil {
			return nil, err
		}
		args = append(args[:0], w.Function)
		for _, h := range chunk {
			args = append(args, h)
		}
		rows, err := tx.QueryContext(ctx, "SELECT key_hash, seq FROM "+appliedTable+
			" WHERE function_name = ? AND key_hash IN ("+placeholders(len(chunk))+") FOR UPDATE", args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var h []byte
			var seq uint64
			if err := rows.Scan(&h, &seq); err != nil {
				rows.Close()
				return nil, err
			}
			applied[string(h)] = seq
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	var stale []handlers.KeySeq
	for _, c := range w.Changes {
		if c.Seq <= applied[string(hashes[c.Key])] {
			stale = append(stale, c)
		}
	}
	return stale, nil
}

// recordApplied stores each key's newest sequence and moves the checkpoint.
func recordApplied(ctx context.Context, tx *sql.Tx, w handlers.Write) error {
	newest, keys, top := w.Newest()
	for start := 0; start < len(keys); start += keysPerStatement {
		chunk := keys[start:min(start+keysPerStatement, len(keys))]
		args := make([]any, 0, 3*len(chunk))
		for _, k := range chunk {
			args = append(args, w.Function, handlers.KeyHash(k), newest[k])
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO "+appliedTable+" (function_name, key_hash, seq) VALUES "+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(chunk)), ", ")+
			" ON DUPLICATE KEY UPDATE seq = GREATEST(seq, VALUES(seq))", args...)
		if err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO "+checkpointsTable+" (function_name, seq, updated_at) VALUES (?, ?, UTC_TIMESTAMP(6))"+
		" ON DUPLICATE KEY UPDATE seq = GREATEST(seq, VALUES(seq)), updated_at = VALUES(updated_at)", w.Function, top)
	return err
}

// Checkpoint returns the highest stream sequence function has applied (0:
// none yet).
func (s *Sink) Checkpoint(ctx context.Context, function string) (uint64, error) {
	var seq uint64
	err := s.db.QueryRowContext(ctx, "SELECT seq FROM "+checkpointsTable+" WHERE function_name = ?", function).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return seq, err
}

// Forget drops function's applied sequences and checkpoint, so that a
// replay from the start of the stream applies everything again.
func (s *Sink) Forget(ctx context.Context, function string) error {
	for _, t := range []string{appliedTable, checkpointsTable} {
		if _, err := s.db.ExecContext(ctx, "DELETE FROM "+t+" WHERE function_name = ?", function); err != nil {
			return err
		}
	}
	return nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Truncate deletes every row of table (DELETE, not TRUNCATE TABLE: it needs
// no DROP privilege and is transactional). `jetsync replay --truncate` uses
// it through the table function.
func (s *Sink) Truncate(ctx context.Context, table string) error {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM "+quote(table)); err != nil {
		return classify(err)
	}
	return nil
}

var (
	_ handlers.TableTruncater = (*Sink)(nil)
	_ handlers.Forgetter      = (*Sink)(nil)
)
