package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
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

// staleChanges raises the applied sequence of each of w's keys to its
// newest change and returns the changes that are not newer than what was
// applied before. One INSERT ... ON DUPLICATE KEY UPDATE per batch claims
// a row per key (the newest sequence for a new key) or raises an existing
// one (GREATEST), and takes an exclusive lock on every row, new or not;
// while it updates an existing row it appends the row's sequence before
// the raise to a session variable, which one SELECT then reads. Keys go in
// key-hash order, the index's order, so two writes of overlapping keys wait
// for each other instead of deadlocking. The sequence it reads is the
// row's latest (an update reads under its lock), so this holds under READ
// COMMITTED and REPEATABLE READ alike. It needs no locking read of rows
// that may not exist: under READ COMMITTED that locks nothing (two
// instances would both take a new key for unapplied, and the older change
// could commit last), under REPEATABLE READ a gap that both share (and an
// insert into it then deadlocks). Nor a read of the keys back: with 500
// keys that IN list cost the database as much again as the upsert.
// (Setting a user variable inside an expression is deprecated on MySQL 8,
// which warns; MariaDB does not.)
func staleChanges(ctx context.Context, tx *sql.Tx, w handlers.Write) ([]handlers.KeySeq, error) {
	newest, _, _ := w.Newest()
	type guard struct {
		hash []byte
		seq  uint64
	}
	guards := make([]guard, 0, len(newest))
	hexOf := make(map[string]string, len(newest)) // key -> its hash as HEX() spells it
	for k, seq := range newest {
		h := handlers.KeyHash(k)
		guards = append(guards, guard{h, seq})
		hexOf[k] = strings.ToUpper(hex.EncodeToString(h))
	}
	slices.SortFunc(guards, func(a, b guard) int { return bytes.Compare(a.hash, b.hash) })
	before := make(map[string]uint64, len(guards)) // hex key hash -> sequence; absent: a new key
	for start := 0; start < len(guards); start += keysPerStatement {
		chunk := guards[start:min(start+keysPerStatement, len(guards))]
		args := make([]any, 0, 3*len(chunk))
		for _, g := range chunk {
			args = append(args, w.Function, g.hash, g.seq)
		}
		if _, err := tx.ExecContext(ctx, "SET @jetsync_before = ''"); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+appliedTable+" (function_name, key_hash, seq) VALUES "+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(chunk)), ", ")+
			" ON DUPLICATE KEY UPDATE seq = IF((@jetsync_before := CONCAT(@jetsync_before, HEX(key_hash), ':', seq, ',')) IS NULL,"+
			" seq, GREATEST(seq, VALUES(seq)))", args...); err != nil {
			return nil, err
		}
		var list string
		if err := tx.QueryRowContext(ctx, "SELECT @jetsync_before").Scan(&list); err != nil {
			return nil, err
		}
		for _, entry := range strings.Split(strings.TrimSuffix(list, ","), ",") {
			h, seq, ok := strings.Cut(entry, ":")
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(seq, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("read the applied sequence of %s: %w", h, err)
			}
			before[h] = n
		}
	}
	var stale []handlers.KeySeq
	for _, c := range w.Changes {
		if c.Seq <= before[hexOf[c.Key]] {
			stale = append(stale, c)
		}
	}
	return stale, nil
}

// recordApplied moves the checkpoint (staleChanges raised the keys).
func recordApplied(ctx context.Context, tx *sql.Tx, w handlers.Write) error {
	_, _, top := w.Newest()
	_, err := tx.ExecContext(ctx, "INSERT INTO "+checkpointsTable+" (function_name, seq, updated_at) VALUES (?, ?, UTC_TIMESTAMP(6))"+
		" ON DUPLICATE KEY UPDATE seq = GREATEST(seq, VALUES(seq)), updated_at = VALUES(updated_at)", w.Function, top)
	return err
}

// The guard of the control tests (Sink.unlockedGuard): what the claim in
// staleChanges prevents.

// unlockedStaleChanges reads the applied sequences of w's keys with a
// plain read: nothing stops another instance from applying them meanwhile.
func unlockedStaleChanges(ctx context.Context, tx *sql.Tx, w handlers.Write) ([]handlers.KeySeq, error) {
	_, keys, _ := w.Newest()
	args := []any{w.Function}
	for _, k := range keys {
		args = append(args, handlers.KeyHash(k))
	}
	rows, err := tx.QueryContext(ctx, "SELECT key_hash, seq FROM "+appliedTable+" WHERE function_name = ? AND key_hash IN ("+placeholders(len(keys))+")", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := map[string]uint64{}
	for rows.Next() {
		var h []byte
		var seq uint64
		if err := rows.Scan(&h, &seq); err != nil {
			return nil, err
		}
		applied[string(h)] = seq
	}
	var stale []handlers.KeySeq
	for _, c := range w.Changes {
		if c.Seq <= applied[string(handlers.KeyHash(c.Key))] {
			stale = append(stale, c)
		}
	}
	return stale, rows.Err()
}

// raiseUnlocked raises the keys' sequences after the rows are written.
func raiseUnlocked(ctx context.Context, tx *sql.Tx, w handlers.Write) error {
	newest, keys, _ := w.Newest()
	args := make([]any, 0, 3*len(keys))
	for _, k := range keys {
		args = append(args, w.Function, handlers.KeyHash(k), newest[k])
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO "+appliedTable+" (function_name, key_hash, seq) VALUES "+
		strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(keys)), ", ")+
		" ON DUPLICATE KEY UPDATE seq = GREATEST(seq, VALUES(seq))", args...)
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
