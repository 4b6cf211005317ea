package mysql_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetsync/jetsync/connectors/conformance"
	"github.com/jetsync/jetsync/connectors/mysql"
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

// TestConcurrentInstancesSlowGuard runs the suite's ConcurrentInstances
// scenario with instances that pause 50 ms between their guard and their
// rows, under READ COMMITTED: with the guard's claim no row may end with
// the older change; the control, whose guard reads without claiming the
// keys' rows (as it once did), must see some, or the test could not tell
// that the claim works.
func TestConcurrentInstancesSlowGuard(t *testing.T) {
	t.Parallel()
	for _, unlocked := range []bool{false, true} {
		name := "claimed"
		if unlocked {
			name = "control: unlocked read"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := suiteHarness(t)
			h.Open = func(t *testing.T, _ string) handlers.Sink {
				cfg := config(testenv.MySQLAddr())
				cfg.Isolation = "read-committed"
				return mysql.WithSlowGuard(open(t, cfg), 50*time.Millisecond, unlocked)
			}
			stale, total := conformance.StaleAfterConcurrentWrites(t, h)
			switch {
			case unlocked && stale == 0:
				t.Fatalf("control: 0 of %d rows stale with the unlocked guard; the test cannot tell the claim works", total)
			case !unlocked && stale > 0:
				t.Fatalf("%d of %d rows hold the older change", stale, total)
			}
		})
	}
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
	}
}
