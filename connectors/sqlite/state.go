package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"strings"

	"github.com/jetsync/jetsync/handlers"
)

// jetsync keeps two tables of its own in the database, written in the same
// transaction as the rows (as the MySQL connector does): jetsync_applied,
// per function and Redis key (SHA-256), the sequence of the last change
// applied; jetsync_checkpoints, per function, the highest sequence applied.
const (
	appliedTable     = "jetsync_applied"
	checkpointsTable = "jetsync_checkpoints"
	keysPerStatement = 5000
)

func createStateTables(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+appliedTable+` (
  function_name TEXT NOT NULL,
  key_hash      BLOB NOT NULL,
  seq           INTEGER NOT NULL,
  PRIMARY KEY (function_name, key_hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS `+checkpointsTable+` (
  function_name TEXT NOT NULL PRIMARY KEY,
  seq           INTEGER NOT NULL,
  updated_at    TEXT NOT NULL
)`)
	return err
}

func keyHash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// staleChanges returns the changes of w that are not newer than the last
// applied of their key. The transaction began IMMEDIATE: it holds the
// database's write lock, so nothing changes the sequences under it.
func staleChanges(ctx context.Context, tx *sql.Tx, w handlers.Write) ([]handlers.KeySeq, error) {
	hashes := map[string][]byte{}
	var keys [][]byte
	for _, c := range w.Changes {
		if _, ok := hashes[c.Key]; !ok {
			hashes[c.Key] = keyHash(c.Key)
			keys = append(keys, hashes[c.Key])
		}
	}
	applied := make(map[string]int64, len(keys))
	for start := 0; start < len(keys); start += keysPerStatement {
		chunk := keys[start:min(start+keysPerStatement, len(keys))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, w.Function)
		for _, h := range chunk {
			args = append(args, h)
		}
		rows, err := tx.QueryContext(ctx, "SELECT key_hash, seq FROM "+appliedTable+" WHERE function_name = ? AND key_hash IN ("+
			strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")+")", args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var h []byte
			var seq int64
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
		if seq, ok := applied[string(hashes[c.Key])]; ok && c.Seq <= uint64(seq) {
			stale = append(stale, c)
		}
	}
	return stale, nil
}

// recordApplied stores each key's newest sequence and moves the checkpoint.
func recordApplied(ctx context.Context, tx *sql.Tx, w handlers.Write) error {
	newest := map[string]uint64{}
	var keys []string
	var top uint64
	for _, c := range w.Changes {
		if _, ok := newest[c.Key]; !ok {
			keys = append(keys, c.Key)
		}
		newest[c.Key] = max(newest[c.Key], c.Seq)
		top = max(top, c.Seq)
	}
	for start := 0; start < len(keys); start += keysPerStatement {
		chunk := keys[start:min(start+keysPerStatement, len(keys))]
		args := make([]any, 0, 3*len(chunk))
		for _, k := range chunk {
			args = append(args, w.Function, keyHash(k), int64(newest[k]))
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+appliedTable+" (function_name, key_hash, seq) VALUES "+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(chunk)), ", ")+
			" ON CONFLICT (function_name, key_hash) DO UPDATE SET seq = max(seq, excluded.seq)", args...); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO "+checkpointsTable+" (function_name, seq, updated_at) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"+
		" ON CONFLICT (function_name) DO UPDATE SET seq = max(seq, excluded.seq), updated_at = excluded.updated_at", w.Function, int64(top))
	return err
}

// Checkpoint returns the highest stream sequence function has applied (0:
// none yet).
func (s *Sink) Checkpoint(ctx context.Context, function string) (uint64, error) {
	var seq int64
	err := s.db.QueryRowContext(ctx, "SELECT seq FROM "+checkpointsTable+" WHERE function_name = ?", function).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return uint64(seq), err
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
