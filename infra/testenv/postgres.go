package testenv

import (
	"database/sql"
	"testing"

	// The pgx driver for database/sql, registered as "pgx".
	_ "github.com/jackc/pgx/v5/stdlib"
)

// PostgresAddr is the PostgreSQL the tests use (user postgres, trust
// authentication, database test).
func PostgresAddr() string { return env("JETSYNC_TEST_POSTGRES_ADDR", "127.0.0.1:5432") }

// Postgres returns a connection pool to database test; it fails the test
// when the server is not running.
func Postgres(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", "postgres://postgres@"+PostgresAddr()+"/test?sslmode=disable")
	if err == nil {
		err = db.Ping()
	}
	if err != nil {
		t.Fatalf("postgresql at %s: %v (start it with infra/local/up.sh)", PostgresAddr(), err)
	}
	db.SetMaxOpenConns(4)
	t.Cleanup(func() { db.Close() })
	return db
}
