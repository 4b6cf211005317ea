// Package sqlsink is jetsync's one apply path for SQL databases, after the
// Debezium JDBC sink's dialects: Sink writes a handlers.Write in one
// transaction — the per-key sequence guard, the rows run by run, the
// checkpoint — and keeps Checkpoint, Forget, Prune and Truncate, the same
// way for every database; Page, Rows, Count and Probe read a table back for
// `jetsync-table verify`. What differs (quoting, placeholders, the upsert
// and delete statements, the guard's claim, error classes) is a Dialect;
// a connector (connectors/mysql, postgres, sqlite, oracle) is a
// configuration, a Dialect and its schema checks around a Sink.
package sqlsink
