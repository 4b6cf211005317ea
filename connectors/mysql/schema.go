package mysql

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// CheckTable checks that table exists with every column in key and columns,
// and, when key is not empty, that key is its primary key or a unique key
// (without one, an upsert would add rows instead of updating them). Its
// errors name what is missing.
func (s *Sink) CheckTable(ctx context.Context, table string, key, columns []string) error {
	rows, err := s.db.QueryContext(ctx,
		"SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", table)
	if err != nil {
		return fmt.Errorf("read columns of table %q: %w", table, err)
	}
	var have []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return err
		}
		have = append(have, strings.ToLower(c))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(have) == 0 {
		return fmt.Errorf("table %q does not exist in database %q on %s: create it first (see infra/sql/mysql)", table, s.cfg.Database, s.cfg.Addr)
	}
	var missing []string
	for _, c := range append(append([]string{}, key...), columns...) {
		if !slices.Contains(have, strings.ToLower(c)) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("table %q in database %q has no column %s; it has %s", table, s.cfg.Database, strings.Join(missing, ", "), strings.Join(have, ", "))
	}
	if len(key) == 0 {
		return nil
	}

	rows, err = s.db.QueryContext(ctx,
		"SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX", table)
	if err != nil {
		return fmt.Errorf("read unique keys of table %q: %w", table, err)
	}
	defer rows.Close()
	unique := map[string][]string{}
	for rows.Next() {
		var idx, col string
		if err := rows.Scan(&idx, &col); err != nil {
			return err
		}
		unique[idx] = append(unique[idx], strings.ToLower(col))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	want := make([]string, len(key))
	for i, k := range key {
		want[i] = strings.ToLower(k)
	}
	slices.Sort(want)
	for _, cols := range unique {
		slices.Sort(cols)
		if slices.Equal(cols, want) {
			return nil
		}
	}
	return fmt.Errorf("key column %s of table %q is not its primary key or a unique key: upserts would add rows instead of updating them", strings.Join(key, ", "), table)
}
