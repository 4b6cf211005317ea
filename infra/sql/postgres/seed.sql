-- Tables of the seed's two mappings (PostgreSQL).
CREATE TABLE IF NOT EXISTS persons (
  person_id VARCHAR(255) NOT NULL PRIMARY KEY,
  first     VARCHAR(255) NULL,
  last      VARCHAR(255) NULL,
  age       INTEGER NULL
);

CREATE TABLE IF NOT EXISTS cars (
  car_id VARCHAR(255) NOT NULL PRIMARY KEY,
  id     VARCHAR(255) NULL,
  color  VARCHAR(255) NULL
);

-- Tables of the example functions (functions/transform, functions/fanout).
CREATE TABLE IF NOT EXISTS person_profiles (
  person_id  VARCHAR(255) NOT NULL PRIMARY KEY,
  full_name  VARCHAR(512) NULL,
  age        INTEGER NULL,
  email      VARCHAR(320) NULL,
  signed_up  TIMESTAMP NULL,
  updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS person_emails (
  person_id VARCHAR(255) NOT NULL PRIMARY KEY,
  email     VARCHAR(320) NOT NULL
);
