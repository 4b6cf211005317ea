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
