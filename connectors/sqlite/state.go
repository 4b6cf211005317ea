package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/jetsync/jetsync/connectors/sqlsink"
)

// createStateTables creates jetsync's state tables (see connectors/sqlsink).
func createStateTables(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+sqlsink.AppliedTable+` (
  function_name TEXT NOT NULL,
  key_hash      BLOB NOT NULL,
  seq           INTEGER NOT NULL,
  PRIMARY KEY (function_name, key_hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS `+sqlsink.CheckpointsTable+` (
  function_name TEXT NOT NULL PRIMARY KEY,
  seq           INTEGER NOT NULL,
  updated_at    TEXT NOT NULL
)`)
	return err
}

// Claim raises the applied order of each key and returns the orders
// before: a read, then one upsert, per chunk. Every transaction began
// IMMEDIATE: it holds the database's write lock, so nothing changes the
// entries between the read and the raise, and there is nothing to
// deadlock on.
func (dialect) Claim(ctx context.Context, tx sqlsink.Tx, function string, keys []sqlsink.Key) (map[string]uint64, error) {
	before := make(map[string]uint64, len(keys))
	err := sqlsink.Chunks(keys, func(chunk []sqlsink.Key) error {
		args := make([]any, 0, 3*len(chunk))
		in := make([]any, 0, len(chunk)+1)
		in = append(in, function)
		for _, k := range chunk {
			args = append(args, function, k.Hash, int64(k.Seq))
			in = append(in, k.Hash)
		}
		if err := sqlsink.Each(ctx, tx, sqlsink.ScanOrders(before), "SELECT key_hash, seq FROM "+sqlsink.AppliedTable+" WHERE function_name = ? AND key_hash IN ("+placeholders(len(chunk))+")", in...); err != nil {
			return err
		}
		return tx.Exec(ctx, "INSERT INTO "+sqlsink.AppliedTable+" (function_name, key_hash, seq) VALUES "+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(chunk)), ", ")+
			" ON CONFLICT (function_name, key_hash) DO UPDATE SET seq = max(seq, excluded.seq)", args...)
	})
	return before, err
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }
