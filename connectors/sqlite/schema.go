package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jetsync/jetsync/connectors"
)

// CheckTable checks that table exists with every column in key and columns,
// and, when key is not empty, that key is its primary key or a unique key
// (without one, ON CONFLICT has nothing to match). SQLite compares names
// without regard to case, and so does this check.
func (s *Sink) CheckTable(ctx context.Context, table string, key, columns []string) error {
	rows, err := s.db.QueryContext(ctx, "SELECT name, pk FROM pragma_table_info(?) ORDER BY cid", table)
	if err != nil {
		return fmt.Errorf("read columns of table %q: %w", table, err)
	}
	var have []string
	pk := map[int]string{}
	for rows.Next() {
		var c string
		var n int
		if err := rows.Scan(&c, &n); err != nil {
			rows.Close()
			return err
		}
		have = append(have, strings.ToLower(c))
		if n > 0 {
			pk[n] = strings.ToLower(c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(have) == 0 {
		return fmt.Errorf("table %q does not exist in %s: create it first (see infra/sql/sqlite)", table, s.cfg.Path)
	}
	var missing []string
	for _, c := range append(append([]string{}, key...), columns...) {
		if !slices.Contains(have, strings.ToLower(c)) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("table %q in %s has no column %s; it has %s", table, s.cfg.Path, strings.Join(missing, ", "), strings.Join(have, ", "))
	}
	if len(key) == 0 {
		return nil
	}
	want := make([]string, len(key))
	for i, k := range key {
		want[i] = strings.ToLower(k)
	}
	slices.Sort(want)
	unique := [][]string{}
	var pkCols []string
	for _, c := range pk {
		pkCols = append(pkCols, c)
	}
	unique = append(unique, pkCols)
	rows, err = s.db.QueryContext(ctx, `SELECT il.name, ii.name FROM pragma_index_list(?) AS il, pragma_index_info(il.name) AS ii
WHERE il."unique" = 1 AND il.partial = 0 ORDER BY il.name, ii.seqno`, table)
	if err != nil {
		return fmt.Errorf("read unique keys of table %q: %w", table, err)
	}
	defer rows.Close()
	byIndex := map[string][]string{}
	for rows.Next() {
		var idx, col string
		if err := rows.Scan(&idx, &col); err != nil {
			return err
		}
		byIndex[idx] = append(byIndex[idx], strings.ToLower(col))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, cols := range byIndex {
		unique = append(unique, cols)
	}
	for _, cols := range unique {
		slices.Sort(cols)
		if slices.Equal(cols, want) {
			return nil
		}
	}
	return fmt.Errorf("key column %s of table %q is not its primary key or a unique key: upserts would have no conflict to update", strings.Join(key, ", "), table)
}

// CheckKeyExact checks that the unique indexes on column of table compare
// bytes exactly (collation BINARY): NOCASE folds case and RTRIM ignores
// trailing spaces, either of which would make distinct Redis keys one row.
func (s *Sink) CheckKeyExact(ctx context.Context, table, column string) error {
	rows, err := s.db.QueryContext(ctx, `SELECT x.coll FROM pragma_index_list(?) AS l, pragma_index_xinfo(l.name) AS x
WHERE l."unique" AND x.name = ? COLLATE NOCASE AND x.key`, table, column)
	if err != nil {
		return fmt.Errorf("read the indexes of table %q: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var coll string
		if err := rows.Scan(&coll); err != nil {
			return err
		}
		if !strings.EqualFold(coll, "BINARY") {
			return connectors.KeyFolds(table, column, "has collation "+coll, "declare it without COLLATE "+coll+" (the default, BINARY, is exact)")
		}
	}
	return rows.Err()
}
