package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jetsync/jetsync/connectors"
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
	t := connectors.Table{Name: table, Where: fmt.Sprintf("database %q on %s", s.cfg.Database, s.cfg.Addr), Schemas: "infra/sql/postgres"}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return err
		}
		t.Columns = append(t.Columns, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(t.Columns) == 0 || len(key) == 0 {
		return t.Check(key, columns)
	}
	rows, err = s.pool.Query(ctx, `SELECT i.indexrelid::text, a.attname
FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL`, quote(table))
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
		byIndex[idx] = append(byIndex[idx], col)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, cols := range byIndex {
		t.Unique = append(t.Unique, cols)
	}
	return t.Check(key, columns)
}

// CheckKeyExact checks that column of table compares bytes exactly:
// character(n) ignores trailing spaces and a nondeterministic collation
// (ICU, case- or accent-insensitive) folds, either of which would make
// distinct Redis keys one row.
func (s *Sink) CheckKeyExact(ctx context.Context, table, column string) error {
	var typ, collation string
	var deterministic bool
	err := s.pool.QueryRow(ctx, `SELECT format_type(a.atttypid, a.atttypmod), coalesce(c.collname, ''), coalesce(c.collisdeterministic, true)
FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation
WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped`, quote(table), column).Scan(&typ, &collation, &deterministic)
	if err != nil {
		return fmt.Errorf("read key column %q of table %q: %w", column, table, err)
	}
	fix := fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s TYPE TEXT COLLATE \"C\"", quote(table), quote(column))
	switch {
	case strings.HasPrefix(typ, "character("):
		return connectors.KeyFolds(table, column, "is "+typ+", which ignores trailing spaces", fix)
	case !deterministic:
		return connectors.KeyFolds(table, column, "has the nondeterministic collation "+collation, fix)
	}
	return nil
}
