package mysql

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/jetsync/jetsync/connectors/sqlsink"
)

// createStateTables creates jetsync's state tables (see connectors/sqlsink)
// unless both exist, so that a user without the CREATE privilege works once
// a DBA has created them.
func createStateTables(ctx context.Context, db *sql.DB) error {
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?, ?)",
		sqlsink.AppliedTable, sqlsink.CheckpointsTable).Scan(&n); err != nil {
		return err
	}
	if n == 2 {
		return nil
	}
	for _, ddl := range []string{
		"CREATE TABLE IF NOT EXISTS " + sqlsink.AppliedTable + ` (
  function_name VARCHAR(255) NOT NULL,
  key_hash      BINARY(32) NOT NULL,
  seq           BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (function_name, key_hash)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4`,
		"CREATE TABLE IF NOT EXISTS " + sqlsink.CheckpointsTable + ` (
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

// Claim raises the applied order of each key and returns the orders before
// that can make a change stale. One INSERT ... ON DUPLICATE KEY UPDATE per
// chunk adds an entry per new key or raises an existing one, and takes an
// exclusive lock on every entry, new or not; where an existing entry's
// order before could make a change of the write stale, it appends that
// order to a session variable, which one SELECT then reads. Keys come in
// hash order, the index's order, so two claims of overlapping keys wait for
// each other instead of deadlocking. The order it reads is the entry's
// latest (an update reads under its lock), so this holds under READ
// COMMITTED and REPEATABLE READ alike. It needs no locking read of entries
// that may not exist: under READ COMMITTED that locks nothing (two
// instances would both take a new key for unapplied, and the older change
// could commit last), under REPEATABLE READ a gap that both share (and an
// insert into it then deadlocks). Nor a read of the keys back: with 500
// keys that IN list cost the database as much again as the upsert. When
// every key has one change in the write (always, after coalescing), an
// entry is appended only when that change is stale — the entry is at or
// above it — so the variable stays short (CONCAT copies it whole each
// time); otherwise every existing entry is. One statement either way, so
// the locks stay in one order. (Setting a user variable inside an expression is deprecated on
// MySQL 8, which warns; MariaDB does not.)
func (dialect) Claim(ctx context.Context, tx sqlsink.Tx, function string, keys []sqlsink.Key) (map[string]uint64, error) {
	setSeq := "IF(seq < VALUES(seq), VALUES(seq), IF((" + appendBefore + ") IS NULL, seq, seq))"
	for _, k := range keys {
		if k.Min != k.Seq {
			setSeq = "IF((" + appendBefore + ") IS NULL, seq, GREATEST(seq, VALUES(seq)))"
			break
		}
	}
	before := make(map[string]uint64, len(keys))
	err := sqlsink.Chunks(keys, func(chunk []sqlsink.Key) error {
		return claimChunk(ctx, tx, function, chunk, setSeq, before)
	})
	return before, err
}

// appendBefore appends an entry's key hash and order to @jetsync_before.
const appendBefore = "@jetsync_before := CONCAT(@jetsync_before, HEX(key_hash), ':', seq, ',')"

// claimChunk runs one claim statement whose ON DUPLICATE KEY UPDATE sets
// seq to setSeq, and adds what it appended to before.
func claimChunk(ctx context.Context, tx sqlsink.Tx, function string, chunk []sqlsink.Key, setSeq string, before map[string]uint64) error {
	args := make([]any, 0, 3*len(chunk))
	for _, k := range chunk {
		args = append(args, function, k.Hash, k.Seq)
	}
	// One round trip: reset the variable, claim, read the variable
	// (multiStatements; the values are interpolated by the driver).
	rows, err := tx.Query(ctx, "SET @jetsync_before = ''; INSERT INTO "+sqlsink.AppliedTable+" (function_name, key_hash, seq) VALUES "+
		strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(chunk)), ", ")+
		" ON DUPLICATE KEY UPDATE seq = "+setSeq+"; SELECT @jetsync_before", args...)
	if err != nil {
		return err
	}
	list, err := lastString(rows)
	if err != nil {
		return err
	}
	for _, entry := range strings.Split(strings.TrimSuffix(list, ","), ",") {
		h, seq, ok := strings.Cut(entry, ":")
		if !ok {
			continue
		}
		hash, err := hex.DecodeString(h)
		if err != nil {
			return fmt.Errorf("read the applied order of %s: %w", h, err)
		}
		n, err := strconv.ParseUint(seq, 10, 64)
		if err != nil {
			return fmt.Errorf("read the applied order of %s: %w", h, err)
		}
		before[string(hash)] = n
	}
	return nil
}

// lastString reads the one string of the last result set of a query of
// several statements.
func lastString(rows sqlsink.Rows) (string, error) {
	defer rows.Close()
	next, ok := rows.(interface{ NextResultSet() bool })
	if !ok {
		return "", fmt.Errorf("the claim needs a driver with several result sets")
	}
	var s string
	for {
		for rows.Next() {
			if err := rows.Scan(&s); err != nil {
				return "", err
			}
		}
		if !next.NextResultSet() {
			break
		}
	}
	return s, rows.Err()
}
