-- Tables of the seed's two mappings (MySQL / MariaDB). Key columns are
-- VARBINARY: Redis keys are binary-safe, and a case-insensitive (the default
-- utf8mb4_general_ci) or PAD SPACE (utf8mb4_bin) collation would make
-- person:Case and person:case, or "a" and "a ", one row. The table function
-- refuses such a key column at start (JETSYNC_KEY_COLLATION).
CREATE TABLE IF NOT EXISTS persons (
  person_id VARBINARY(255) NOT NULL PRIMARY KEY,
  first     VARCHAR(255) NULL,
  last      VARCHAR(255) NULL,
  age       INT NULL
) DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS cars (
  car_id VARBINARY(255) NOT NULL PRIMARY KEY,
  id     VARCHAR(255) NULL,
  color  VARCHAR(255) NULL
) DEFAULT CHARSET = utf8mb4;

-- Tables of the example functions (functions/transform, functions/fanout).
CREATE TABLE IF NOT EXISTS person_profiles (
  person_id  VARBINARY(255) NOT NULL PRIMARY KEY,
  full_name  VARCHAR(512) NULL,
  age        INT NULL,
  email      VARCHAR(320) NULL,
  signed_up  DATETIME NULL,
  updated_at DATETIME(6) NOT NULL
) DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS person_emails (
  person_id VARBINARY(255) NOT NULL PRIMARY KEY,
  email     VARCHAR(320) NOT NULL
) DEFAULT CHARSET = utf8mb4;

-- Tables created by an earlier jetsync seed: make their key columns byte-exact.
ALTER TABLE persons MODIFY person_id VARBINARY(255) NOT NULL;
ALTER TABLE cars MODIFY car_id VARBINARY(255) NOT NULL;
ALTER TABLE person_profiles MODIFY person_id VARBINARY(255) NOT NULL;
ALTER TABLE person_emails MODIFY person_id VARBINARY(255) NOT NULL;
