-- jetsync's own state in the target database (SQL Server). The connector
-- creates these tables at start when its user may; otherwise a DBA runs this
-- once and grants the user SELECT, INSERT, UPDATE, DELETE on them.
-- Keep in step with connectors/mssql/state.go.
IF OBJECT_ID(N'jetsync_applied', N'U') IS NULL
CREATE TABLE jetsync_applied (
  function_name NVARCHAR(255) NOT NULL,
  key_hash      VARBINARY(32) NOT NULL,
  seq           BIGINT NOT NULL,
  PRIMARY KEY (function_name, key_hash)
);

IF OBJECT_ID(N'jetsync_checkpoints', N'U') IS NULL
CREATE TABLE jetsync_checkpoints (
  function_name NVARCHAR(255) NOT NULL PRIMARY KEY,
  seq           BIGINT NOT NULL,
  updated_at    DATETIME2(6) NOT NULL
);
