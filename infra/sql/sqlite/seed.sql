-- Tables of the seed's two mappings (SQLite). STRICT makes a value of the
-- wrong type an error (a dead letter) instead of being stored as it is, and
-- the CHECKs make a too-long value one, as on the other SQL targets. The
-- connector creates its own state tables (jetsync_applied,
-- jetsync_checkpoints) in the same file.
--   sqlite3 jetsync.db < infra/sql/sqlite/seed.sql
CREATE TABLE IF NOT EXISTS persons (
  person_id TEXT NOT NULL PRIMARY KEY CHECK (length(person_id) <= 255),
  first     TEXT NULL CHECK (length(first) <= 255),
  last      TEXT NULL CHECK (length(last) <= 255),
  age       INTEGER NULL
) STRICT;

CREATE TABLE IF NOT EXISTS cars (
  car_id TEXT NOT NULL PRIMARY KEY CHECK (length(car_id) <= 255),
  id     TEXT NULL CHECK (length(id) <= 255),
  color  TEXT NULL CHECK (length(color) <= 255)
) STRICT;

CREATE TABLE IF NOT EXISTS person_profiles (
  person_id  TEXT NOT NULL PRIMARY KEY,
  full_name  TEXT NULL,
  age        INTEGER NULL,
  email      TEXT NULL,
  signed_up  TEXT NULL,
  updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS person_emails (
  person_id TEXT NOT NULL PRIMARY KEY,
  email     TEXT NOT NULL
) STRICT;
