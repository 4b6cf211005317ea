package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// CheckTable checks that table exists (in the connection's current schema)
// with every column in key and columns, and, when key is not empty, that key
// is its primary key or a unique key (without one, ON CONFLICT has nothing
// to match). Names are compared exactly: they are quoted in statements.
func (s *Sink) CheckTable(ctx context.Context, table string, key, columns []string) error {
	rows, err := s.pool.Query(ctx,
		"SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position", table)
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
		have = append(have, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(have) == 0 {
		return fmt.Errorf("table %q does not exist in database %q on %s: create it first (see infra/sql/postgres)", table, s.cfg.Database, s.cfg.Addr)
	}
	var missing []string
	for _, c := range append(append([]string{}, key...), columns...) {
		if !slices.Contains(have, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("table %q in database %q has no column %s; it has %s", table, s.cfg.Database, strings.Join(missing, ", "), strings.Join(have, ", "))
	}
	if len(key) == 0 {
		return nil
	}
	rows, err = s.pool.Query(ctx, `SELECT i.indexrelid::text, a.attname
FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL`, quote(table))
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
		unique[idx] = append(unique[idx], col)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	want := slices.Clone(key)
	slices.Sort(want)
	for _, cols := range unique {
		slices.Sort(cols)
		if slices.Equal(cols, want) {
			return nil
		}
	}
	return fmt.Errorf("key column %s of table %q is not its primary key or a unique key: upserts would have no conflict to update", strings.Join(key, ", "), table)
}
