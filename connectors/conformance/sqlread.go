package conformance

import (
	"cmp"
	"database/sql"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// ReadSQL runs query on db and returns its rows as text, NULL as Null: a
// Read for harnesses of database/sql drivers.
func ReadSQL(t *testing.T, db *sql.DB, query string) [][]string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
			if !v.Valid {
				row[i] = Null
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// SelectAll is "SELECT <columns> FROM <table> ORDER BY <key>" with
// identifiers quoted by quote.
func SelectAll(spec Table, table string, quote func(string) string) string {
	var cols, keys []string
	for _, c := range spec.All() {
		cols = append(cols, quote(c.Name))
	}
	for _, c := range spec.Key {
		keys = append(keys, quote(c.Name))
	}
	return "SELECT " + strings.Join(cols, ", ") + " FROM " + quote(table) + " ORDER BY " + strings.Join(keys, ", ")
}

// CreateSQL is "CREATE TABLE <table> (<columns>, PRIMARY KEY (<key>))<suffix>"
// with each column's type from typeOf.
func CreateSQL(spec Table, table string, quote func(string) string, typeOf func(Column) string, suffix string) string {
	var defs, keys []string
	for _, c := range spec.All() {
		defs = append(defs, quote(c.Name)+" "+typeOf(c))
	}
	for _, c := range spec.Key {
		keys = append(keys, quote(c.Name))
	}
	return "CREATE TABLE " + quote(table) + " (" + strings.Join(defs, ", ") + ", PRIMARY KEY (" + strings.Join(keys, ", ") + "))" + suffix
}

// SortByKey orders rows (as Read returns them: the spec's key columns
// first) by their key, integer keys numerically: for harnesses of targets
// that return rows in no order.
func SortByKey(rows [][]string, spec Table) {
	slices.SortFunc(rows, func(a, b []string) int {
		for i, c := range spec.Key {
			if c.Type == Int || c.Type == BigInt {
				x, _ := strconv.ParseInt(a[i], 10, 64)
				y, _ := strconv.ParseInt(b[i], 10, 64)
				if n := cmp.Compare(x, y); n != 0 {
					return n
				}
				continue
			}
			if n := strings.Compare(a[i], b[i]); n != 0 {
				return n
			}
		}
		return 0
	})
}
