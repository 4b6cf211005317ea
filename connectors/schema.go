package connectors

import (
	"fmt"
	"slices"
	"strings"
)

// Table is what a SQL connector read about a target table, for the check
// every connector makes at start.
type Table struct {
	Name string
	// Where names the database for messages: `database "test" on 127.0.0.1:3306`.
	Where string
	// Schemas is where the seed's schemas are, for the missing-table hint.
	Schemas string
	Columns []string
	// Unique holds the column sets of the primary key and unique keys.
	Unique [][]string
	// Fold compares names case-insensitively (MySQL).
	Fold bool
}

// Check reports, naming what is missing, a table that does not exist, a
// column of key or columns that it lacks, and, when key is not empty, a key
// that is not its primary key or a unique key (upserts would then add rows
// instead of updating them).
func (t Table) Check(key, columns []string) error {
	norm := func(s string) string {
		if t.Fold {
			return strings.ToLower(s)
		}
		return s
	}
	if len(t.Columns) == 0 {
		return fmt.Errorf("table %q does not exist in %s: create it first (see %s)", t.Name, t.Where, t.Schemas)
	}
	have := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		have[i] = norm(c)
	}
	var missing []string
	for _, c := range append(slices.Clone(key), columns...) {
		if !slices.Contains(have, norm(c)) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("table %q in %s has no column %s; it has %s", t.Name, t.Where, strings.Join(missing, ", "), strings.Join(t.Columns, ", "))
	}
	if len(key) == 0 {
		return nil
	}
	want := make([]string, len(key))
	for i, k := range key {
		want[i] = norm(k)
	}
	slices.Sort(want)
	for _, cols := range t.Unique {
		got := make([]string, len(cols))
		for i, c := range cols {
			got[i] = norm(c)
		}
		slices.Sort(got)
		if slices.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("key column %s of table %q is not its primary key or a unique key: upserts would add rows instead of updating them", strings.Join(key, ", "), t.Name)
}

// KeyFolds is the error of a key column whose comparison makes distinct
// Redis keys one row (case or accent folding, trailing spaces ignored):
// Redis keys are binary-safe, so "person:Case" and "person:case" must stay
// two rows, and a DEL of one must not delete the other's.
func KeyFolds(table, column, how, fix string) error {
	return fmt.Errorf("key column %q of table %q %s, so distinct Redis keys would share a row (\"Case\" and \"case\", \"a\" and \"a \", \"é\" and \"e\"); make it byte-exact: %s; or set JETSYNC_KEY_COLLATION=any to accept that", column, table, how, fix)
}
