package mssql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// stateSQL creates jetsync's state tables (see connectors/sqlsink) when
// they are missing: infra/sql/mssql/jetsync_state.sql, one batch per table.
var stateSQL = []string{
	`IF OBJECT_ID(N'jetsync_applied', N'U') IS NULL
CREATE TABLE jetsync_applied (
  function_name NVARCHAR(255) NOT NULL,
  key_hash      VARBINARY(32) NOT NULL,
  seq           BIGINT NOT NULL,
  PRIMARY KEY (function_name, key_hash)
)`,
	`IF OBJECT_ID(N'jetsync_checkpoints', N'U') IS NULL
CREATE TABLE jetsync_checkpoints (
  function_name NVARCHAR(255) NOT NULL PRIMARY KEY,
  seq           BIGINT NOT NULL,
  updated_at    DATETIME2(6) NOT NULL
)`,
}

// createStateTables creates the state tables unless both exist, so that a
// user without CREATE TABLE works once a DBA has created them.
func createStateTables(ctx context.Context, db *sql.DB) error {
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME IN ('jetsync_applied', 'jetsync_checkpoints') AND TABLE_SCHEMA = SCHEMA_NAME()").Scan(&n); err != nil {
		return err
	}
	if n == 2 {
		return nil
	}
	for _, ddl := range stateSQL {
		if _, err := db.ExecContext(ctx, ddl); err != nil {
			return fmt.Errorf("create %s (or have a DBA run infra/sql/mssql/jetsync_state.sql): %w", strings.Fields(ddl)[7], err)
		}
	}
	return nil
}
