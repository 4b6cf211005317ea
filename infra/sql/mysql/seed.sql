-- Tables of the seed's two mappings (MySQL / MariaDB).
CREATE TABLE IF NOT EXISTS persons (
  person_id VARCHAR(255) NOT NULL PRIMARY KEY,
  first     VARCHAR(255) NULL,
  last      VARCHAR(255) NULL,
  age       INT NULL
) DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS cars (
  car_id VARCHAR(255) NOT NULL PRIMARY KEY,
  id     VARCHAR(255) NULL,
  color  VARCHAR(255) NULL
) DEFAULT CHARSET = utf8mb4;

-- Tables of the example functions (functions/transform, functions/fanout).
CREATE TABLE IF NOT EXISTS person_profiles (
  person_id  VARCHAR(255) NOT NULL PRIMARY KEY,
  full_name  VARCHAR(512) NULL,
  age        INT NULL,
  email      VARCHAR(320) NULL,
  signed_up  DATETIME NULL,
  updated_at DATETIME(6) NOT NULL
) DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS person_emails (
  person_id VARCHAR(255) NOT NULL PRIMARY KEY,
  email     VARCHAR(320) NOT NULL
) DEFAULT CHARSET = utf8mb4;
