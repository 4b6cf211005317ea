-- jetsync's own state in the target schema (Oracle). The Oracle connector
-- does not create tables: a DBA runs this once in the user's schema.
-- Keep in step with connectors/oracle/sql.go.
CREATE TABLE JETSYNC_APPLIED (
  FUNCTION_NAME VARCHAR2(255) NOT NULL,
  KEY_HASH      RAW(32) NOT NULL,
  SEQ           NUMBER(20) NOT NULL,
  PRIMARY KEY (FUNCTION_NAME, KEY_HASH)
);

CREATE TABLE JETSYNC_CHECKPOINTS (
  FUNCTION_NAME VARCHAR2(255) NOT NULL PRIMARY KEY,
  SEQ           NUMBER(20) NOT NULL,
  UPDATED_AT    TIMESTAMP NOT NULL
);
