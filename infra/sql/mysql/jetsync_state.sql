-- jetsync's own state in the target database (MySQL / MariaDB). The connector
-- creates these tables at start when its user may; otherwise a DBA runs this
-- once and grants the user SELECT, INSERT, UPDATE, DELETE on them.
-- Keep in step with connectors/mysql/state.go.
CREATE TABLE IF NOT EXISTS jetsync_applied (
  function_name VARCHAR(255) NOT NULL,
  key_hash      BINARY(32) NOT NULL,
  seq           BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (function_name, key_hash)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS jetsync_checkpoints (
  function_name VARCHAR(255) NOT NULL PRIMARY KEY,
  seq           BIGINT UNSIGNED NOT NULL,
  updated_at    DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
