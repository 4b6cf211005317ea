package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetsync/jetsync/connectors/conformance"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/testenv"
)

func openPath(t testing.TB, addr string, path bulkPath) *Sink {
	t.Helper()
	s, err := Open(context.Background(), Config{Addr: addr, User: "postgres", Database: "test", SSLMode: "disable", MaxConns: 2, Timeout: 2 * time.Second}, testenv.QuietLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	s.d.bulk = path
	t.Cleanup(func() { s.Close() })
	return s
}

var paths = []struct {
	name string
	path bulkPath
}{{"values", bulkValues}, {"pipeline", bulkPipeline}, {"copy", bulkCopy}}

// TestBulkPathsConform runs the conformance suite on the bulk paths that
// are not the default, so that each one measured is also correct.
func TestBulkPathsConform(t *testing.T) {
	db := testenv.Postgres(t)
	for _, p := range paths {
		if p.path == bulkValues {
			continue // TestConformance
		}
		t.Run(p.name, func(t *testing.T) {
			conformance.Run(t, conformance.Harness{
				Open: func(t *testing.T, addr string) handlers.Sink {
					if addr == "" {
						addr = testenv.PostgresAddr()
					}
					return openPath(t, addr, p.path)
				},
				CreateTable: func(t *testing.T, spec conformance.Table) string {
					name := testenv.Name(spec.Base)
					testenv.Exec(t, db, conformance.CreateSQL(spec, name, quote, func(c conformance.Column) string {
						return map[conformance.Type]string{conformance.Int: "INTEGER", conformance.BigInt: "BIGINT", conformance.LongText: "TEXT"}[c.Type] +
							map[bool]string{true: fmt.Sprintf("VARCHAR(%d)", c.Size)}[c.Type == conformance.String]
					}, ""))
					t.Cleanup(func() { db.Exec("DROP TABLE " + quote(name)) })
					return name
				},
				Read: func(t *testing.T, table string, spec conformance.Table) [][]string {
					return conformance.ReadSQL(t, db, conformance.SelectAll(spec, table, quote))
				},
				Addr: testenv.PostgresAddr(),
				Caps: conformance.Capabilities{Guards: true, LengthLimit: true},
			})
		})
	}
}

// benchWrite writes b.N batches of 500 upserts (persons-like rows, with
// sequence guards, as the table function writes them) over 20,000 keys, so
// that most rows after the first pass are updates, and reports rows/s.
func benchWrite(b *testing.B, s *Sink) {
	db := testenv.Postgres(b)
	table := testenv.Name("bench")
	testenv.Exec(b, db, "CREATE TABLE "+table+" (person_id VARCHAR(255) PRIMARY KEY, first VARCHAR(255), last VARCHAR(255), age INT)")
	b.Cleanup(func() { db.Exec("DROP TABLE " + table) })
	conformance.BenchWrite(b, s, table)
}

// BenchmarkWrite is the connector's write throughput in batches of 500:
//
//	go test -run '^$' -bench Write -benchtime 200x ./connectors/postgres/
func BenchmarkWrite(b *testing.B) {
	benchWrite(b, openPath(b, testenv.PostgresAddr(), bulkValues))
}

// BenchmarkBulkPaths compares the bulk paths (see bulkPath).
func BenchmarkBulkPaths(b *testing.B) {
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) { benchWrite(b, openPath(b, testenv.PostgresAddr(), p.path)) })
	}
}

func TestStatements(t *testing.T) {
	v := func(name string, val any) handlers.Column { return handlers.Column{Name: name, Value: val} }
	up := func(id string, vals ...handlers.Column) handlers.Op {
		return handlers.Op{Table: "persons", Key: []handlers.Column{v("id", id)}, Values: vals}
	}
	tests := []struct {
		name string
		ops  []handlers.Op
		want string
		args string
	}{
		{"multi-row upsert", []handlers.Op{up("1", v("first", "a"), v("age", "3")), up("2", v("first", nil), v("age", "4"))},
			`INSERT INTO "persons" ("id", "first", "age") VALUES ($1, $2, $3), ($4, $5, $6) ON CONFLICT ("id") DO UPDATE SET "first" = EXCLUDED."first", "age" = EXCLUDED."age"`,
			"[1 a 3 2 <nil> 4]"},
		{"last op of a key wins", []handlers.Op{up("1", v("a", "old")), up("2", v("a", "x")), up("1", v("a", "new"))},
			`INSERT INTO "persons" ("id", "a") VALUES ($1, $2), ($3, $4) ON CONFLICT ("id") DO UPDATE SET "a" = EXCLUDED."a"`,
			"[2 x 1 new]"},
		{"quoted identifiers", []handlers.Op{{Table: `we"ird`, Key: []handlers.Column{v("k k", "1")}, Values: []handlers.Column{v(`c"`, "v")}}},
			`INSERT INTO "we""ird" ("k k", "c""") VALUES ($1, $2) ON CONFLICT ("k k") DO UPDATE SET "c""" = EXCLUDED."c"""`,
			"[1 v]"},
		{"key only", []handlers.Op{up("1")}, `INSERT INTO "persons" ("id") VALUES ($1) ON CONFLICT ("id") DO NOTHING`, "[1]"},
		{"unsigned sequence as text", []handlers.Op{{Table: "h", Key: []handlers.Column{v("jetsync_seq", uint64(1<<63))}}},
			`INSERT INTO "h" ("jetsync_seq") VALUES ($1) ON CONFLICT ("jetsync_seq") DO NOTHING`, "[9223372036854775808]"},
		{"delete", []handlers.Op{{Delete: true, Table: "t", Key: []handlers.Column{v("id", "1")}}, {Delete: true, Table: "t", Key: []handlers.Column{v("id", "2")}}},
			`DELETE FROM "t" WHERE "id" IN ($1, $2)`, "[1 2]"},
		{"composite key delete", []handlers.Op{{Delete: true, Table: "t", Key: []handlers.Column{v("a", "1"), v("b", "2")}}},
			`DELETE FROM "t" WHERE ("a", "b") IN (($1, $2))`, "[1 2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sts := statements(tt.ops)
			if len(sts) != 1 {
				t.Fatalf("%d statements, want 1", len(sts))
			}
			if sts[0].SQL != tt.want {
				t.Errorf("\n got %s\nwant %s", sts[0].SQL, tt.want)
			}
			if got := fmt.Sprint(sts[0].Args); got != tt.args {
				t.Errorf("args %s, want %s", got, tt.args)
			}
		})
	}
	// 30,000 rows of 3 columns: 90,000 parameters, more than one statement.
	var ops []handlers.Op
	for i := range 30000 {
		ops = append(ops, up(strconv.Itoa(i), v("a", "x"), v("b", "y")))
	}
	sts, rows := statements(ops), 0
	for _, st := range sts {
		if len(st.Args) > maxParams {
			t.Fatalf("statement with %d parameters", len(st.Args))
		}
		rows += len(st.Args) / 3
	}
	if len(sts) < 2 || rows != 30000 {
		t.Fatalf("%d statements holding %d rows", len(sts), rows)
	}
}

func TestCopyText(t *testing.T) {
	var b strings.Builder
	for _, v := range []any{nil, "a\tb\nc\\d\re", uint64(7), []byte{1, 255}, time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC), true} {
		copyText(&b, v)
		b.WriteByte('|')
	}
	want := `\N|a\tb\nc\\d\re|7|\\x01ff|2024-01-02T03:04:05.000000006Z|t|`
	if b.String() != want {
		t.Fatalf("got %s\nwant %s", b.String(), want)
	}
}
