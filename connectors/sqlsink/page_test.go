package sqlsink_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetsync/jetsync/connectors/mysql"
	"github.com/jetsync/jetsync/connectors/postgres"
	"github.com/jetsync/jetsync/connectors/sqlite"
	"github.com/jetsync/jetsync/connectors/sqlsink"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/testenv"
)

// reader is what every SQL connector's sink offers verify (sqlsink.Sink's
// methods, promoted).
type reader interface {
	handlers.Sink
	Page(ctx context.Context, s sqlsink.Shape, after []string, n int) ([]sqlsink.Row, error)
	Rows(ctx context.Context, s sqlsink.Shape, keys [][]string) ([]sqlsink.Row, error)
	Count(ctx context.Context, table string) (int64, error)
	Probe(ctx context.Context, s sqlsink.Shape, ops []handlers.Op) ([]sqlsink.Row, error)
}

// TestPager reads tables back on MariaDB, PostgreSQL and SQLite: keyset
// pages of a composite key walk every row once in key order, Rows finds
// exactly the rows of the keys asked, Count counts, and Probe shows what a
// write would leave (the column type's text) or refuses it for good, and
// keeps nothing.
func TestPager(t *testing.T) {
	ctx := context.Background()
	log := testenv.Logger(t)
	for _, tt := range []struct {
		name string
		open func(t *testing.T) (reader, *sql.DB, string)
	}{
		{"mysql", func(t *testing.T) (reader, *sql.DB, string) {
			db := testenv.MySQL(t)
			s, err := mysql.Open(ctx, mysql.Config{Addr: testenv.MySQLAddr(), User: "root", Database: "test", TLS: "false", MaxConns: 2, Timeout: 2 * time.Second}, log)
			if err != nil {
				t.Fatal(err)
			}
			return s, db, " DEFAULT CHARSET=utf8mb4"
		}},
		{"postgres", func(t *testing.T) (reader, *sql.DB, string) {
			db := testenv.Postgres(t)
			s, err := postgres.Open(ctx, postgres.Config{Addr: testenv.PostgresAddr(), User: "postgres", Database: "test", SSLMode: "disable", MaxConns: 2, Timeout: 2 * time.Second}, log)
			if err != nil {
				t.Fatal(err)
			}
			return s, db, ""
		}},
		{"sqlite", func(t *testing.T) (reader, *sql.DB, string) {
			path := filepath.Join(t.TempDir(), "pager.db")
			s, err := sqlite.Open(ctx, sqlite.Config{Path: path, BusyTimeout: 5 * time.Second, Synchronous: "normal"}, log)
			if err != nil {
				t.Fatal(err)
			}
			return s, s.DB(), " STRICT"
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, db, suffix := tt.open(t)
			t.Cleanup(func() { s.Close() })
			table := testenv.Name("pager")
			text, integer := "VARCHAR(20)", "INT"
			if tt.name == "sqlite" {
				text, integer = "TEXT", "INTEGER"
			}
			testenv.Exec(t, db, fmt.Sprintf("CREATE TABLE %s (a %s NOT NULL, b %s NOT NULL, name %s, age %s, PRIMARY KEY (a, b))%s", table, text, integer, text, integer, suffix))
			t.Cleanup(func() { db.Exec("DROP TABLE " + table) })
			shape := sqlsink.Shape{Table: table, Key: []string{"a", "b"}, Columns: []string{"name", "age"}}
			op := func(a string, b int, name, age any) handlers.Op {
				return handlers.Op{Table: table, Key: []handlers.Column{{Name: "a", Value: a}, {Name: "b", Value: strconv.Itoa(b)}},
					Values: []handlers.Column{{Name: "name", Value: name}, {Name: "age", Value: age}}}
			}
			var ops []handlers.Op
			var want []string
			for _, a := range []string{"a", "b", "c"} {
				for b := range 9 {
					var name any = a + strconv.Itoa(b)
					if b == 4 {
						name = nil
					}
					ops = append(ops, op(a, b, name, strconv.Itoa(10*b)))
					want = append(want, fmt.Sprintf("%s,%d", a, b))
				}
			}
			if err := s.Write(ctx, handlers.Write{Ops: ops}); err != nil {
				t.Fatal(err)
			}

			if n, err := s.Count(ctx, table); err != nil || n != 27 {
				t.Fatalf("Count = %d, %v; want 27", n, err)
			}
			var walked []string
			var after []string
			for pages := 0; ; pages++ {
				page, err := s.Page(ctx, shape, after, 7)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					if pages != 4 {
						t.Errorf("%d pages of 7 for 27 rows, want 4 and an empty one", pages)
					}
					break
				}
				for _, r := range page {
					walked = append(walked, strings.Join(r.Key, ","))
				}
				after = page[len(page)-1].Key
			}
			if strings.Join(walked, " ") != strings.Join(want, " ") {
				t.Fatalf("pages walked\n %v\nwant\n %v", walked, want)
			}

			got, err := s.Rows(ctx, shape, [][]string{{"a", "1"}, {"c", "4"}, {"z", "0"}})
			if err != nil {
				t.Fatal(err)
			}
			if text := rowsText(got); text != "a,1=a1,10 c,4=NULL,40" {
				t.Fatalf("Rows = %s", text)
			}

			probed, err := s.Probe(ctx, shape, []handlers.Op{op("a", 1, "x", "042"), op("d", 0, nil, nil)})
			if err != nil {
				t.Fatal(err)
			}
			if text := rowsText(probed); text != "a,1=x,42 d,0=NULL,NULL" {
				t.Fatalf("Probe = %s, want the values as the table's types make them", text)
			}
			_, err = s.Probe(ctx, shape, []handlers.Op{op("a", 2, "y", "old")})
			if !errors.Is(err, handlers.ErrPermanent) {
				t.Fatalf("Probe of a value the column refuses: %v, want a permanent error", err)
			}
			if n, _ := s.Count(ctx, table); n != 27 {
				t.Fatalf("after the probes the table holds %d rows, want 27: a probe kept its write", n)
			}
			if got, _ := s.Rows(ctx, shape, [][]string{{"a", "1"}}); rowsText(got) != "a,1=a1,10" {
				t.Fatalf("after the probes row a,1 = %s: a probe kept its write", rowsText(got))
			}
		})
	}
}

// rowsText renders rows sorted by key: "k1,k2=v1,v2 ...", NULL for NULL.
func rowsText(rows []sqlsink.Row) string {
	var out []string
	for _, r := range rows {
		vals := make([]string, len(r.Values))
		for i, v := range r.Values {
			vals[i] = v.String
			if !v.Valid {
				vals[i] = "NULL"
			}
		}
		out = append(out, strings.Join(r.Key, ",")+"="+strings.Join(vals, ","))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}
