package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/connectors/sqlsink"
)

// CheckTable checks that table exists with every column in key and columns,
// and, when key is not empty, that key is its primary key or a unique key
// (without one, an upsert would add rows instead of updating them). Its
// errors name what is missing. Names compare case-insensitively, as MySQL's.
func (s *Sink) CheckTable(ctx context.Context, table string, key, columns []string) error {
	t := connectors.Table{Name: table, Where: fmt.Sprintf("database %q on %s", s.cfg.Database, s.cfg.Addr), Schemas: "infra/sql/mysql", Fold: true}
	err := sqlsink.Each(ctx, sqlsink.FromSQL(s.db, nil), func(rows sqlsink.Rows) error {
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
		err := sqlsink.Each(ctx, sqlsink.FromSQL(s.db, nil), func(rows sqlsink.Rows) error {
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

// CheckKeyExact checks that column of table compares bytes exactly: a
// binary string (VARBINARY, BLOB), a number, or a character column whose
// collation tells "a" from "A", "a " and "é". A case- or accent-insensitive
// collation (utf8mb4_general_ci, the default) or a PAD SPACE one
// (utf8mb4_bin) would make distinct Redis keys one row.
func (s *Sink) CheckKeyExact(ctx context.Context, table, column string) error {
	var dataType, colType string
	var charset, collation sql.NullString
	err := s.db.QueryRowContext(ctx, "SELECT DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?",
		table, column).Scan(&dataType, &colType, &charset, &collation)
	if err != nil {
		return fmt.Errorf("read key column %q of table %q: %w", column, table, err)
	}
	fix := fmt.Sprintf("ALTER TABLE %s MODIFY %s VARBINARY(255) NOT NULL", quote(table), quote(column))
	if dataType == "binary" || dataType == "char" {
		return connectors.KeyFolds(table, column, "is "+colType+", which pads values", fix)
	}
	if !collation.Valid {
		return nil // VARBINARY, BLOB, numbers
	}
	if !identifier.MatchString(charset.String) || !identifier.MatchString(collation.String) {
		return fmt.Errorf("key column %q of table %q: unexpected character set %q or collation %q", column, table, charset.String, collation.String)
	}
	conv := func(v string) string {
		return "CONVERT(" + v + " USING " + charset.String + ") COLLATE " + collation.String
	}
	var foldsCase, padsSpace, foldsAccent bool
	if err := s.db.QueryRowContext(ctx, "SELECT "+conv("'a'")+" = "+conv("'A'")+", "+conv("'a'")+" = "+conv("'a '")+", "+conv("'e'")+" = "+conv("_utf8mb4'é'")).
		Scan(&foldsCase, &padsSpace, &foldsAccent); err != nil {
		return fmt.Errorf("compare with the collation %s of key column %q of table %q: %w", collation.String, column, table, err)
	}
	if foldsCase || padsSpace || foldsAccent {
		return connectors.KeyFolds(table, column, "has collation "+collation.String, fix+" (or a NO PAD binary collation: utf8mb4_nopad_bin on MariaDB, utf8mb4_0900_bin on MySQL 8)")
	}
	return nil
}

// identifier matches the names information_schema gives character sets and
// collations.
var identifier = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
