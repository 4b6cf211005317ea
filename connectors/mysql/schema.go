package mysql

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jetsync/jetsync/connectors"
)

// CheckTable checks that table exists with every column in key and columns,
// and, when key is not empty, that key is its primary key or a unique key
// (without one, an upsert would add rows instead of updating them). Its
// errors name what is missing. Names compare case-insensitively, as MySQL's.
func (s *Sink) CheckTable(ctx context.Context, table string, key, columns []string) error {
	t := connectors.Table{Name: table, Where: fmt.Sprintf("database %q on %s", s.cfg.Database, s.cfg.Addr), Schemas: "infra/sql/mysql", Fold: true}
	err := query(ctx, s.db, func(rows *sql.Rows) error {
		var c string
		err := rows.Scan(&c)
		t.Columns = append(t.Columns, c)
		return err
	}, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", table)
	if err != nil {
		return fmt.Errorf("read columns of table %q: %w", table, err)
	}
	if len(t.Columns) > 0 && len(key) > 0 {
		byIndex := map[string][]string{}
		err := query(ctx, s.db, func(rows *sql.Rows) error {
			var idx, col string
			err := rows.Scan(&idx, &col)
			byIndex[idx] = append(byIndex[idx], col)
			return err
		}, "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX", table)
		if err != nil {
			return fmt.Errorf("read unique keys of table %q: %w", table, err)
		}
		for _, cols := range byIndex {
			t.Unique = append(t.Unique, cols)
		}
	}
	return t.Check(key, columns)
}

// query runs a query and hands each row to scan.
func query(ctx context.Context, db *sql.DB, scan func(*sql.Rows) error, q string, args ...any) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
