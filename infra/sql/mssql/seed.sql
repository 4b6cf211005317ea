-- The seed's tables (persons, cars) for SQL Server. Keys are VARBINARY so
-- that distinct Redis keys stay distinct rows (a case-insensitive
-- collation would merge person:Case and person:case).
IF OBJECT_ID(N'persons', N'U') IS NULL
CREATE TABLE persons (
  person_id VARBINARY(255) NOT NULL PRIMARY KEY,
  first     NVARCHAR(255) NULL,
  last      NVARCHAR(255) NULL,
  age       INT NULL
);

IF OBJECT_ID(N'cars', N'U') IS NULL
CREATE TABLE cars (
  car_id VARBINARY(255) NOT NULL PRIMARY KEY,
  id     NVARCHAR(255) NULL,
  color  NVARCHAR(255) NULL
);
