package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jetsync/jetsync/connectors/sqlsink"
)

// createStateTables creates jetsync's state tables (see connectors/sqlsink)
// unless both exist, so that a user without the CREATE privilege works once
// a DBA has created them. A table exists whether or not the user has rights
// on it (to_regclass, not information_schema, which shows only tables the
// user may use); checkStateRights then names a right the user lacks.
func createStateTables(ctx context.Context, pool *pgxpool.Pool) error {
	var n int
	if err := pool.QueryRow(ctx, "SELECT (to_regclass($1) IS NOT NULL)::int + (to_regclass($2) IS NOT NULL)::int",
		sqlsink.AppliedTable, sqlsink.CheckpointsTable).Scan(&n); err != nil {
		return err
	}
	if n == 2 {
		return checkStateRights(ctx, pool)
	}
	_, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+sqlsink.AppliedTable+` (
  function_name TEXT NOT NULL,
  key_hash      BYTEA NOT NULL,
  seq           BIGINT NOT NULL,
  PRIMARY KEY (function_name, key_hash)
);
CREATE TABLE IF NOT EXISTS `+sqlsink.CheckpointsTable+` (
  function_name TEXT NOT NULL PRIMARY KEY,
  seq           BIGINT NOT NULL,
  updated_at    TIMESTAMPTZ NOT NULL
)`)
	return err
}

// errStateRights is a state table the user may not read and write: no
// retry helps.
var errStateRights = errors.New("missing rights on jetsync's state table")

// checkStateRights fails, naming the table and the rights, when the user
// lacks SELECT, INSERT, UPDATE or DELETE on a state table; without it the
// function would start and fail on its first write.
func checkStateRights(ctx context.Context, pool *pgxpool.Pool) error {
	for _, t := range []string{sqlsink.AppliedTable, sqlsink.CheckpointsTable} {
		var missing []string
		for _, right := range []string{"SELECT", "INSERT", "UPDATE", "DELETE"} {
			var ok bool
			if err := pool.QueryRow(ctx, "SELECT has_table_privilege($1, $2)", t, right).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				missing = append(missing, right)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%w: grant this user %s ON %s", errStateRights, strings.Join(missing, ", "), t)
		}
	}
	return nil
}

// Claim raises the applied order of each key and returns the orders before,
// in three statements: it adds the new keys' entries with their orders (ON
// CONFLICT DO NOTHING; the keys it added come back and were never applied);
// locks the other keys' entries (FOR UPDATE, which reads their latest
// committed order under READ COMMITTED and fails with a serialization
// error, retried, under REPEATABLE READ when another instance changed one);
// and raises them. A key that another instance is adding makes the insert
// wait for that instance to commit and then counts as existing. Both
// statements go in hash order, so overlapping claims do not deadlock.
func (*dialect) Claim(ctx context.Context, tx sqlsink.Tx, function string, keys []sqlsink.Key) (map[string]uint64, error) {
	hashes := make([][]byte, len(keys))
	seqs := make([]int64, len(keys))
	for i, k := range keys {
		hashes[i], seqs[i] = k.Hash, int64(k.Seq)
	}
	added := make(map[string]bool, len(keys))
	if err := sqlsink.Each(ctx, tx, func(r sqlsink.Rows) error {
		var h []byte
		err := r.Scan(&h)
		added[string(h)] = true
		return err
	}, "INSERT INTO "+sqlsink.AppliedTable+" (function_name, key_hash, seq) SELECT $1, h, s FROM unnest($2::bytea[], $3::bigint[]) AS u(h, s) ORDER BY h"+
		" ON CONFLICT DO NOTHING RETURNING key_hash", function, hashes, seqs); err != nil {
		return nil, err
	}
	before := make(map[string]uint64, len(keys)-len(added))
	if len(added) == len(keys) {
		return before, nil
	}
	hashes, seqs = hashes[:0], seqs[:0]
	for _, k := range keys {
		if !added[string(k.Hash)] {
			hashes, seqs = append(hashes, k.Hash), append(seqs, int64(k.Seq))
		}
	}
	if err := sqlsink.Each(ctx, tx, sqlsink.ScanOrders(before), "SELECT key_hash, seq FROM "+sqlsink.AppliedTable+" WHERE function_name = $1 AND key_hash = ANY($2) ORDER BY key_hash FOR UPDATE",
		function, hashes); err != nil {
		return nil, err
	}
	return before, tx.Exec(ctx, "UPDATE "+sqlsink.AppliedTable+" a SET seq = GREATEST(a.seq, u.s) FROM unnest($2::bytea[], $3::bigint[]) AS u(h, s)"+
		" WHERE a.function_name = $1 AND a.key_hash = u.h", function, hashes, seqs)
}
