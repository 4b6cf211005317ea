-- jetsync's own state in the target database (PostgreSQL). The connector
-- creates these tables at start when its user may; otherwise a DBA runs this
-- once (in the user's current schema) and grants the user SELECT, INSERT,
-- UPDATE, DELETE on them. Keep in step with connectors/postgres/state.go.
CREATE TABLE IF NOT EXISTS jetsync_applied (
  function_name TEXT NOT NULL,
  key_hash      BYTEA NOT NULL,
  seq           BIGINT NOT NULL,
  PRIMARY KEY (function_name, key_hash)
);

CREATE TABLE IF NOT EXISTS jetsync_checkpoints (
  function_name TEXT NOT NULL PRIMARY KEY,
  seq           BIGINT NOT NULL,
  updated_at    TIMESTAMPTZ NOT NULL
);
