// Package sqlite is the SQLite connector (modernc.org/sqlite: pure Go, no
// cgo), the embedded default target: the demo runs with no database server
// at all.
//
// The database is one file (JETSYNC_SQLITE_PATH) in WAL mode with a busy
// timeout. A write is one BEGIN IMMEDIATE transaction, which takes SQLite's
// single write lock at once, so the per-key sequence guards in
// jetsync_applied need no FOR UPDATE: every write reads and raises them
// alone. Runs of upserts become multi-row INSERT ... ON CONFLICT (key) DO
// UPDATE SET c = excluded.c statements that set only the columns named;
// runs of deletes become DELETE ... WHERE key IN (...).
//
// SQLite is loosely typed: an ordinary table stores "twenty" in an INTEGER
// column and 300 characters in a VARCHAR(16). jetsync does not second-guess
// the schema: declare tables STRICT (a value of the wrong type is then
// refused with SQLITE_CONSTRAINT_DATATYPE) and add CHECK (length(c) <= n)
// where a length limit matters; constraint failures are permanent errors
// (dead letters), as they are on the other SQL targets. See
// infra/sql/sqlite/seed.sql. Busy, locked, I/O and full-disk errors are
// transient.
package sqlite
