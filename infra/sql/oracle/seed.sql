-- Tables of the seed's two mappings (Oracle). Unquoted names are stored in
-- upper case; the connector upper-cases simple names, so the mapping's
-- person_id finds PERSON_ID.
CREATE TABLE persons (
  person_id VARCHAR2(255 CHAR) NOT NULL PRIMARY KEY,
  first     VARCHAR2(255 CHAR) NULL,
  last      VARCHAR2(255 CHAR) NULL,
  age       NUMBER(10) NULL
);

CREATE TABLE cars (
  car_id VARCHAR2(255 CHAR) NOT NULL PRIMARY KEY,
  id     VARCHAR2(255 CHAR) NULL,
  color  VARCHAR2(255 CHAR) NULL
);
