package mysql_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetsync/jetsync/connectors/conformance"
	"github.com/jetsync/jetsync/connectors/mysql"
	"github.com/jetsync/jetsync/connectors/sqlsink"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/testenv"
)

func quoteIdent(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

func mysqlType(c conformance.Column) string {
	switch c.Type {
	case conformance.Int:
		return "INT"
	case conformance.BigInt:
		return "BIGINT"
	case conformance.LongText:
		return "LONGTEXT"
	default:
		return fmt.Sprintf("VARCHAR(%d)", c.Size)
	}
}

// TestConformance runs the connector suite against MariaDB.
func TestConformance(t *testing.T) {
	conformance.Run(t, suiteHarness(t))
}

func suiteHarness(t *testing.T) conformance.Harness {
	db := testenv.MySQL(t)
	return conformance.Harness{
		Open: func(t *testing.T, addr string) handlers.Sink {
			if addr == "" {
				addr = testenv.MySQLAddr()
			}
			return open(t, config(addr))
		},
		CreateTable: func(t *testing.T, spec conformance.Table) string {
			name := testenv.Name(spec.Base)
			testenv.Exec(t, db, conformance.CreateSQL(spec, name, quoteIdent, mysqlType, " DEFAULT CHARSET=utf8mb4"))
			t.Cleanup(func() { db.Exec("DROP TABLE " + quoteIdent(name)) })
			return name
		},
		Read: func(t *testing.T, table string, spec conformance.Table) [][]string {
			return conformance.ReadSQL(t, db, conformance.SelectAll(spec, table, quoteIdent))
		},
		Addr:       testenv.MySQLAddr(),
		Caps:       conformance.Capabilities{Guards: true, LengthLimit: true},
		Isolations: []string{"read-committed", "repeatable-read"},
		OpenIsolated: func(t *testing.T, isolation string) handlers.Sink {
			cfg := config(testenv.MySQLAddr())
			cfg.Isolation = isolation
			return open(t, cfg)
		},
		SlowGuard: func(s handlers.Sink, pause time.Duration, unlocked bool) {
			sqlsink.WithSlowGuard(s.(*mysql.Sink).Sink, pause, unlocked)
		},
	}
}
