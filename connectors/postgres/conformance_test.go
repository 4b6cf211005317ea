package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetsync/jetsync/connectors/conformance"
	"github.com/jetsync/jetsync/connectors/postgres"
	"github.com/jetsync/jetsync/connectors/sqlsink"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/testenv"
)

func config(addr string) postgres.Config {
	return postgres.Config{Addr: addr, User: "postgres", Database: "test", SSLMode: "disable", MaxConns: 2, Timeout: 2 * time.Second}
}

func open(t testing.TB, cfg postgres.Config) *postgres.Sink {
	t.Helper()
	s, err := postgres.Open(context.Background(), cfg, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

func pgType(c conformance.Column) string {
	switch c.Type {
	case conformance.Int:
		return "INTEGER"
	case conformance.BigInt:
		return "BIGINT"
	case conformance.LongText:
		return "TEXT"
	default:
		return fmt.Sprintf("VARCHAR(%d)", c.Size)
	}
}

// harness is the conformance harness of PostgreSQL; openSink opens the sink.
func harness(db *sql.DB, openSink func(t *testing.T, addr string) handlers.Sink) conformance.Harness {
	return conformance.Harness{
		Open: openSink,
		CreateTable: func(t *testing.T, spec conformance.Table) string {
			name := testenv.Name(spec.Base)
			testenv.Exec(t, db, conformance.CreateSQL(spec, name, quoteIdent, pgType, ""))
			t.Cleanup(func() { db.Exec("DROP TABLE " + quoteIdent(name)) })
			return name
		},
		Read: func(t *testing.T, table string, spec conformance.Table) [][]string {
			return conformance.ReadSQL(t, db, conformance.SelectAll(spec, table, quoteIdent))
		},
		Addr:       testenv.PostgresAddr(),
		Caps:       conformance.Capabilities{Guards: true, LengthLimit: true},
		Isolations: []string{"read-committed", "repeatable-read"},
		OpenIsolated: func(t *testing.T, isolation string) handlers.Sink {
			cfg := config(testenv.PostgresAddr())
			cfg.Isolation = isolation
			return open(t, cfg)
		},
		SlowGuard: func(s handlers.Sink, pause time.Duration, unlocked bool) {
			sqlsink.WithSlowGuard(s.(*postgres.Sink).Sink, pause, unlocked)
		},
	}
}

// TestConformance runs the connector suite against PostgreSQL.
func TestConformance(t *testing.T) {
	db := testenv.Postgres(t)
	conformance.Run(t, harness(db, func(t *testing.T, addr string) handlers.Sink {
		if addr == "" {
			addr = testenv.PostgresAddr()
		}
		return open(t, config(addr))
	}))
}
