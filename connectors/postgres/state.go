package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jetsync/jetsync/handlers"
)

// jetsync keeps two tables of its own in the target database, written in the
// same transaction as the rows (as the MySQL connector does):
//
//   - jetsync_applied: per function and Redis key (as a SHA-256), the stream
//     sequence of the last change applied. Deleted keys keep their entry, so
//     a stale upsert cannot bring a deleted row back.
//   - jetsync_checkpoints: per function, the highest sequence applied and when.
const (
	appliedTable     = "jetsync_applied"
	checkpointsTable = "jetsync_checkpoints"
)

// createStateTables creates the state tables unless both exist, so that a
// user without the CREATE privilege works once a DBA has created them.
func createStateTables(ctx context.Context, pool *pgxpool.Pool) error {
	var n int
	if err := pool.QueryRow(ctx, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name IN ($1, $2)",
		appliedTable, checkpointsTable).Scan(&n); err != nil {
		return err
	}
	if n == 2 {
		return nil
	}
	_, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+appliedTable+` (
  function_name TEXT NOT NULL,
  key_hash      BYTEA NOT NULL,
  seq           BIGINT NOT NULL,
  PRIMARY KEY (function_name, key_hash)
);
CREATE TABLE IF NOT EXISTS `+checkpointsTable+` (
  function_name TEXT NOT NULL PRIMARY KEY,
  seq           BIGINT NOT NULL,
  updated_at    TIMESTAMPTZ NOT NULL
)`)
	return err
}

func keyHash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// staleChanges locks the applied sequences of w's keys and returns the
// changes that are not newer than them. Keys never applied get a row with
// sequence 0 first: FOR UPDATE locks only rows that exist, and without a
// row two instances could both take a new key for unapplied and the older
// change could commit last. Rows are locked in key-hash order, so two writes
// of overlapping keys do not deadlock.
func staleChanges(ctx context.Context, tx pgx.Tx, w handlers.Write) ([]handlers.KeySeq, error) {
	hashes := map[string][]byte{}
	for _, c := range w.Changes {
		if _, ok := hashes[c.Key]; !ok {
			hashes[c.Key] = keyHash(c.Key)
		}
	}
	keys := make([][]byte, 0, len(hashes))
	for _, h := range hashes {
		keys = append(keys, h)
	}
	slices.SortFunc(keys, bytes.Compare)
	if _, err := tx.Exec(ctx, "INSERT INTO "+appliedTable+" (function_name, key_hash, seq) SELECT $1, h, 0 FROM unnest($2::bytea[]) AS u(h) ORDER BY h ON CONFLICT DO NOTHING",
		w.Function, keys); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, "SELECT key_hash, seq FROM "+appliedTable+" WHERE function_name = $1 AND key_hash = ANY($2) ORDER BY key_hash FOR UPDATE",
		w.Function, keys)
	if err != nil {
		return nil, err
	}
	byHash := make(map[string]uint64, len(keys))
	for rows.Next() {
		var h []byte
		var seq int64
		if err := rows.Scan(&h, &seq); err != nil {
			rows.Close()
			return nil, err
		}
		byHash[string(h)] = uint64(seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var stale []handlers.KeySeq
	for _, c := range w.Changes {
		if c.Seq <= byHash[string(hashes[c.Key])] {
			stale = append(stale, c)
		}
	}
	return stale, nil
}

// recordApplied stores each key's newest sequence and moves the checkpoint.
func recordApplied(ctx context.Context, tx pgx.Tx, w handlers.Write) error {
	newest := map[string]uint64{}
	var top uint64
	for _, c := range w.Changes {
		newest[c.Key] = max(newest[c.Key], c.Seq)
		top = max(top, c.Seq)
	}
	hashes := make([][]byte, 0, len(newest))
	seqs := make([]int64, 0, len(newest))
	for k, s := range newest {
		hashes = append(hashes, keyHash(k))
		seqs = append(seqs, int64(s))
	}
	if _, err := tx.Exec(ctx, "UPDATE "+appliedTable+" a SET seq = GREATEST(a.seq, u.s) FROM unnest($2::bytea[], $3::bigint[]) AS u(h, s)"+
		" WHERE a.function_name = $1 AND a.key_hash = u.h", w.Function, hashes, seqs); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "INSERT INTO "+checkpointsTable+" (function_name, seq, updated_at) VALUES ($1, $2, now())"+
		" ON CONFLICT (function_name) DO UPDATE SET seq = GREATEST("+checkpointsTable+".seq, EXCLUDED.seq), updated_at = EXCLUDED.updated_at",
		w.Function, int64(top))
	return err
}

// Checkpoint returns the highest stream sequence function has applied (0:
// none yet).
func (s *Sink) Checkpoint(ctx context.Context, function string) (uint64, error) {
	var seq int64
	err := s.pool.QueryRow(ctx, "SELECT seq FROM "+checkpointsTable+" WHERE function_name = $1", function).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return uint64(seq), err
}

// Forget drops function's applied sequences and checkpoint, so that a
// replay from the start of the stream applies everything again.
func (s *Sink) Forget(ctx context.Context, function string) error {
	for _, t := range []string{appliedTable, checkpointsTable} {
		if _, err := s.pool.Exec(ctx, "DELETE FROM "+t+" WHERE function_name = $1", function); err != nil {
			return err
		}
	}
	return nil
}
