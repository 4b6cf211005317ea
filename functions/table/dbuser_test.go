package table

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jetsync/jetsync/connectors/postgres"
	"github.com/jetsync/jetsync/infra/platform"
	"github.com/jetsync/jetsync/infra/testenv"
)

// TestMinimalDatabaseUser runs the table function as a MySQL user that has
// exactly the README's GRANT lines (its table named for the test's table,
// its user the test's own): a write and a delete reach the table. The
// control runs the same user without the grant on jetsync_applied, and the
// function must stop at start naming the refused table.
func TestMinimalDatabaseUser(t *testing.T) {
	t.Parallel()
	grants := readmeGrants(t, "TO 'jetsync'@'%';", 3)
	testenv.WithControl(t, "README grants", "no grant on jetsync_applied", func(t *testing.T, control bool) {
		w := newWorld(t)
		ctx := context.Background()
		// The state tables exist (an administrator's step; here any earlier
		// function as root made them).
		root := w.tableConfig(testenv.Name("persons"), w.Prefix("person"), w.personsTable(), "person_id", "age:age", testenv.MySQLAddr())
		if _, open, err := Build(root); err != nil {
			t.Fatal(err)
		} else if s, err := open(ctx, testenv.Logger(t)); err != nil {
			t.Fatal(err)
		} else {
			s.Close()
		}
		table, prefix := w.personsTable(), w.Prefix("person")
		user := testenv.Name("jsmin")
		testenv.Exec(t, w.DB, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'pw'", user))
		t.Cleanup(func() { w.DB.Exec(fmt.Sprintf("DROP USER '%s'@'%%'", user)) })
		for _, g := range grants {
			if control && strings.Contains(g, "jetsync_applied") {
				continue
			}
			g = strings.Replace(g, "test.persons", "test."+table, 1)
			testenv.Exec(t, w.DB, strings.Replace(g, "'jetsync'@'%'", "'"+user+"'@'%'", 1))
		}
		w.StartBridge(prefix)
		cfg := w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "first_name:first,age:age", testenv.MySQLAddr())
		cfg.MySQL.User, cfg.MySQL.Password = user, platform.Secret("pw")
		if control {
			rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			err := Run(rctx, cfg, testenv.Logger(t))
			if err == nil || rctx.Err() != nil || !strings.Contains(err.Error(), "jetsync_applied") {
				t.Fatalf("control: Run() = %v (context %v), want a refusal naming jetsync_applied", err, rctx.Err())
			}
			return
		}
		w.startFunction(cfg)
		w.Redis.HSet(ctx, prefix+":1", "first_name", "Ada", "age", "36")
		w.Redis.HSet(ctx, prefix+":2", "first_name", "Bob", "age", "40")
		testenv.Eventually(t, 20*time.Second, func() error {
			if n := w.Count(table); n != 2 {
				return fmt.Errorf("%d rows", n)
			}
			return nil
		})
		w.Redis.Del(ctx, prefix+":2")
		testenv.Eventually(t, 20*time.Second, func() error {
			if _, ok, err := w.person(table, "2"); err != nil || ok {
				return fmt.Errorf("row 2 still there (%v)", err)
			}
			return nil
		})
	})
}

// TestMinimalPostgresUser runs the table function as a PostgreSQL role that
// has exactly the README's PostgreSQL GRANT lines (its table named for the
// test's table, its role the test's own, with a password; the shared
// server's trust authentication does not check it, but the role's rights
// hold): a write and a delete reach the table. The control leaves out the
// grant on jetsync_applied, and the function must stop at start naming it.
func TestMinimalPostgresUser(t *testing.T) {
	t.Parallel()
	grants := readmeGrants(t, " TO jetsync;", 4)
	state, err := os.ReadFile("../../infra/sql/postgres/jetsync_state.sql")
	if err != nil {
		t.Fatal(err)
	}
	testenv.WithControl(t, "README grants", "no grant on jetsync_applied", func(t *testing.T, control bool) {
		w := newWorld(t)
		ctx := context.Background()
		db := testenv.Postgres(t)
		// The state tables exist: an administrator's step, from the file
		// the README names.
		testenv.Exec(t, db, string(state))
		table, prefix, role := testenv.Name("persons"), w.Prefix("person"), testenv.Name("jsmin")
		testenv.Exec(t, db, "CREATE TABLE "+table+" (person_id VARCHAR(255) PRIMARY KEY, first VARCHAR(255), age INT)")
		t.Cleanup(func() { db.Exec("DROP TABLE " + table) })
		testenv.Exec(t, db, "CREATE ROLE "+role+" LOGIN PASSWORD 'pw'")
		t.Cleanup(func() {
			db.Exec("DROP OWNED BY " + role)
			db.Exec("DROP ROLE " + role)
		})
		for _, g := range grants {
			if control && strings.Contains(g, "jetsync_applied") {
				continue
			}
			g = strings.Replace(g, "public.persons ", "public."+table+" ", 1)
			testenv.Exec(t, db, strings.Replace(g, " TO jetsync", " TO "+role, 1))
		}
		cfg := w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "first_name:first,age:age", "")
		cfg.Connector, cfg.MySQL = "postgres", w.MySQLConfig("nowhere")
		cfg.Postgres = postgres.Config{Addr: testenv.PostgresAddr(), User: role, Password: platform.Secret("pw"), Database: "test", SSLMode: "disable", MaxConns: 2, Timeout: 2 * time.Second}
		if control {
			rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			err := Run(rctx, cfg, testenv.Logger(t))
			if err == nil || rctx.Err() != nil || !strings.Contains(err.Error(), "jetsync_applied") {
				t.Fatalf("control: Run() = %v (context %v), want a refusal naming jetsync_applied", err, rctx.Err())
			}
			return
		}
		w.StartBridge(prefix)
		w.startFunction(cfg)
		w.Redis.HSet(ctx, prefix+":1", "first_name", "Ada", "age", "36")
		w.Redis.HSet(ctx, prefix+":2", "first_name", "Bob", "age", "40")
		count := func() (n int, err error) {
			err = db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n)
			return n, err
		}
		testenv.Eventually(t, 20*time.Second, func() error {
			if n, err := count(); err != nil || n != 2 {
				return fmt.Errorf("%d rows (%v)", n, err)
			}
			return nil
		})
		w.Redis.Del(ctx, prefix+":2")
		testenv.Eventually(t, 20*time.Second, func() error {
			var n int
			if err := db.QueryRow("SELECT COUNT(*) FROM " + table + " WHERE person_id = '2'").Scan(&n); err != nil || n != 0 {
				return fmt.Errorf("row 2 still there (%v)", err)
			}
			return nil
		})
	})
}

// readmeGrants returns the README's GRANT lines that end with to (the
// grantee and the semicolon), without the semicolon; there must be want.
func readmeGrants(t *testing.T, to string, want int) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var grants []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "GRANT ") && strings.HasSuffix(line, to) {
			grants = append(grants, strings.TrimSuffix(line, ";"))
		}
	}
	if len(grants) != want {
		t.Fatalf("README: %d GRANT lines ending %q, want %d", len(grants), to, want)
	}
	return grants
}
