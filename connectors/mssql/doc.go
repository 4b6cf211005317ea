// Package mssql is the SQL Server connector (JETSYNC_CONNECTOR=mssql) on
// the SQL sink (connectors/sqlsink), with go-mssqldb (pure Go: in the
// default static build). Upserts are MERGE statements of many rows (under
// SQL Server's 2,100 parameters), deletes DELETE ... WHERE key = ... OR ...;
// the guard is one MERGE WITH (HOLDLOCK) into jetsync_applied that adds the
// missing keys, raises the others and OUTPUTs every key's order before, so
// the claimed entries stay locked until the commit. Error numbers that no
// retry fixes (conversion, truncation, NULL, constraint) are permanent; a
// deadlock victim (1205) or a lock timeout (1222) is retried. Key columns
// must be VARBINARY (CheckKeyExact: text compares ignoring trailing
// spaces); CheckTable records a table's binary columns, whose text values
// are then bound as bytes.
//
// No SQL Server can run on the development machines: the statements are
// tested as text and arguments, and the conformance suite runs against a
// real server when JETSYNC_TEST_MSSQL_DSN is set.
package mssql
