package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetsync/jetsync/connectors/conformance"
	"github.com/jetsync/jetsync/connectors/sqlite"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/testenv"
)

func config(path string) sqlite.Config {
	return sqlite.Config{Path: path, BusyTimeout: 10 * time.Second, Synchronous: "full"}
}

func open(t testing.TB, cfg sqlite.Config) *sqlite.Sink {
	t.Helper()
	s, err := sqlite.Open(context.Background(), cfg, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// database opens (creating) a database file in a temporary directory for
// DDL and reads, as another process would.
func database(t testing.TB) (path string, db *sql.DB) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "jetsync.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// Switch the new file to WAL before parallel tests open it.
	testenv.Exec(t, db, "PRAGMA journal_mode = WAL")
	return path, db
}

func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// sqliteType declares the portable types in a STRICT table; a String's
// length limit is a CHECK constraint.
func sqliteType(c conformance.Column) string {
	switch c.Type {
	case conformance.Int, conformance.BigInt:
		return "INTEGER"
	case conformance.LongText:
		return "TEXT"
	default:
		return fmt.Sprintf("TEXT CHECK (length(%s) <= %d)", quoteIdent(c.Name), c.Size)
	}
}

// TestConformance runs the connector suite on a database file.
func TestConformance(t *testing.T) {
	path, db := database(t)
	conformance.Run(t, conformance.Harness{
		Open: func(t *testing.T, _ string) handlers.Sink { return open(t, config(path)) },
		CreateTable: func(t *testing.T, spec conformance.Table) string {
			name := testenv.Name(spec.Base)
			testenv.Exec(t, db, conformance.CreateSQL(spec, name, quoteIdent, sqliteType, " STRICT"))
			t.Cleanup(func() { db.Exec("DROP TABLE " + quoteIdent(name)) })
			return name
		},
		Read: func(t *testing.T, table string, spec conformance.Table) [][]string {
			return conformance.ReadSQL(t, db, conformance.SelectAll(spec, table, quoteIdent))
		},
		Caps: conformance.Capabilities{
			Guards:      true,
			LengthLimit: true,
			// No server to stop: another connection holds the write lock
			// past the sink's busy timeout.
			Outage: func(t *testing.T) (handlers.Sink, func(), func()) {
				cfg := config(path)
				cfg.BusyTimeout = 200 * time.Millisecond
				s := open(t, cfg)
				var holder *sql.Conn
				cut := func() {
					var err error
					if holder, err = db.Conn(context.Background()); err != nil {
						t.Fatal(err)
					}
					if _, err := holder.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
						t.Fatal(err)
					}
				}
				restore := func() {
					holder.ExecContext(context.Background(), "ROLLBACK")
					holder.Close()
				}
				return s, cut, restore
			},
		},
	})
}

// TestLooseTablesTakeAnything documents the other side of SQLite's typing:
// a table that is not STRICT and has no CHECK stores a wrong-typed or
// too-long value as it is, so nothing is dead-lettered.
func TestLooseTablesTakeAnything(t *testing.T) {
	t.Parallel()
	path, db := database(t)
	s := open(t, config(path))
	testenv.Exec(t, db, "CREATE TABLE loose (id VARCHAR(8) PRIMARY KEY, age INTEGER, name VARCHAR(4))")
	err := s.Write(context.Background(), handlers.Write{Ops: []handlers.Op{{Table: "loose", Key: []handlers.Column{{Name: "id", Value: "1"}},
		Values: []handlers.Column{{Name: "age", Value: "twenty"}, {Name: "name", Value: "far too long"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	got := conformance.ReadSQL(t, db, "SELECT age, name, typeof(age) FROM loose")
	if fmt.Sprint(got) != "[[twenty far too long text]]" {
		t.Fatalf("rows %v", got)
	}
}

func TestCheckTable(t *testing.T) {
	t.Parallel()
	path, db := database(t)
	s := open(t, config(path))
	testenv.Exec(t, db, "CREATE TABLE t (id TEXT PRIMARY KEY, a INT, b INT, c INT, UNIQUE (a, b))")
	testenv.Exec(t, db, "CREATE TABLE t2 (x INT, y INT, PRIMARY KEY (y, x))")
	tests := []struct {
		name    string
		table   string
		key     []string
		columns []string
		err     string
	}{
		{"primary key", "t", []string{"id"}, []string{"a", "b"}, ""},
		{"unique key", "t", []string{"b", "a"}, []string{"c"}, ""},
		{"composite primary key", "t2", []string{"x", "y"}, nil, ""},
		{"case does not matter", "t", []string{"ID"}, []string{"A"}, ""},
		{"history table needs no key", "t", nil, []string{"id", "c"}, ""},
		{"no such table", "nope", []string{"id"}, nil, "does not exist"},
		{"no such column", "t", []string{"id"}, []string{"a", "zz"}, "has no column zz"},
		{"key not unique", "t", []string{"c"}, nil, "not its primary key or a unique key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CheckTable(context.Background(), tt.table, tt.key, tt.columns)
			if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("CheckTable = %v, want %q", err, tt.err)
			}
		})
	}
}

// BenchmarkWrite is the connector's write throughput in batches of 500
// (persons-like rows with sequence guards, WAL, synchronous=full):
//
//	go test -run '^$' -bench Write -benchtime 200x ./connectors/sqlite/
func BenchmarkWrite(b *testing.B) {
	path, db := database(b)
	s := open(b, config(path))
	testenv.Exec(b, db, "CREATE TABLE persons (person_id TEXT PRIMARY KEY, first TEXT, last TEXT, age INTEGER) STRICT")
	ctx := context.Background()
	const batch, keys = 500, 20000
	var seq uint64
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		w := handlers.Write{Function: "bench", Ops: make([]handlers.Op, batch), Changes: make([]handlers.KeySeq, batch)}
		for j := range batch {
			seq++
			id := strconv.Itoa((i*batch + j) % keys)
			w.Ops[j] = handlers.Op{Table: "persons", Key: []handlers.Column{{Name: "person_id", Value: id}}, Values: []handlers.Column{
				{Name: "first", Value: "Marek" + id}, {Name: "last", Value: "Michalski"}, {Name: "age", Value: strconv.Itoa(j % 100)}}}
			w.Changes[j] = handlers.KeySeq{Key: "bench:" + id, Seq: seq}
		}
		if err := s.Write(ctx, w); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "rows/s")
}
