// Package postgres is the PostgreSQL connector (jackc/pgx/v5, pgxpool).
//
// A write is one transaction. It first takes the per-key sequence guards in
// jetsync_applied (missing keys are inserted with sequence 0 so that they can
// be locked, then every key's row is read FOR UPDATE in a fixed order), and
// refuses the write with a *handlers.StaleError when a change is not newer.
// Runs of upserts of one table and shape become multi-row
// INSERT ... ON CONFLICT (key) DO UPDATE SET c = EXCLUDED.c statements that
// set only the columns named; runs of deletes become DELETE ... WHERE key IN
// (...). The sequences (GREATEST) and the function's checkpoint are written
// in the same transaction.
//
// Errors are classified by SQLSTATE: data exceptions (class 22: too long,
// invalid text, out of range, ...) and integrity violations (not null,
// foreign key, unique, check, exclusion) are permanent; everything else,
// connection failures, serialization failures and deadlocks included, is
// transient. The password is read from JETSYNC_POSTGRES_PASSWORD or
// JETSYNC_POSTGRES_PASSWORD_FILE before each new connection.
package postgres
