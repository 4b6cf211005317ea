package sqlsink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/handlers"
)

// Reading a table back, for `jetsync-table verify`: pages of rows in the
// key's order (keyset pagination: each page starts after the last key of
// the one before, so a page costs the same at the end of a large table as
// at its start), the rows of given keys, the row count, and a probe that
// tells what a write would leave in a row without keeping it.

// Syntax is how a dialect spells the statements it shares with every
// other: quoted names and placeholders.
type Syntax interface {
	// Quote returns name quoted as an identifier.
	Quote(name string) string
	// Param is the placeholder of the n-th argument of a statement (from 1).
	Param(n int) string
}

// Limiter is implemented by a dialect whose ordered SELECT is cut to its
// first n rows by another clause than LIMIT n (SQL Server, Oracle).
type Limiter interface {
	Limit(n int) string
}

// Binder is implemented by a dialect that binds a text value of some
// columns as another type (SQL Server: bytes for binary columns, which it
// does not compare with text).
type Binder interface {
	Bind(table, column string, v any) any
}

// Shape is what is read of a table (connectors.Shape).
type Shape = connectors.Shape

// Row is one row as text (connectors.Row).
type Row = connectors.Row

// PageSQL is the statement of a keyset page: up to n rows of s in key
// order, after the key given by the arguments (after; see PageArgs), or
// from the first row. A composite key compares as a row value, spelled
// "k1 > ? OR (k1 = ? AND k2 > ?)", which every dialect reads.
func PageSQL(d Syntax, s Shape, after bool, n int) string {
	var b strings.Builder
	b.WriteString(selectList(d, s))
	if after {
		b.WriteString(" WHERE ")
		p := 0
		for i := range s.Key {
			if i > 0 {
				b.WriteString(" OR ")
			}
			b.WriteByte('(')
			for j := range i {
				p++
				b.WriteString(d.Quote(s.Key[j]) + " = " + d.Param(p) + " AND ")
			}
			p++
			b.WriteString(d.Quote(s.Key[i]) + " > " + d.Param(p) + ")")
		}
	}
	b.WriteString(" ORDER BY ")
	for i, k := range s.Key {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.Quote(k))
	}
	if l, ok := d.(Limiter); ok {
		b.WriteString(" " + l.Limit(n))
	} else {
		b.WriteString(" LIMIT " + strconv.Itoa(n))
	}
	return b.String()
}

// PageArgs are the arguments of PageSQL after the key values after: for
// each key column i, the values of columns 0..i.
func PageArgs(after []string) []any {
	var args []any
	for i := range after {
		for j := range i + 1 {
			args = append(args, after[j])
		}
	}
	return args
}

// RowsSQL is the statement that reads the rows of n keys of s, in no
// particular order; its arguments are the keys' values, key by key.
func RowsSQL(d Syntax, s Shape, n int) string {
	var b strings.Builder
	b.WriteString(selectList(d, s))
	b.WriteString(" WHERE ")
	p := 0
	if len(s.Key) == 1 {
		b.WriteString(d.Quote(s.Key[0]) + " IN (")
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			p++
			b.WriteString(d.Param(p))
		}
		b.WriteByte(')')
		return b.String()
	}
	for i := range n {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteByte('(')
		for j, k := range s.Key {
			if j > 0 {
				b.WriteString(" AND ")
			}
			p++
			b.WriteString(d.Quote(k) + " = " + d.Param(p))
		}
		b.WriteByte(')')
	}
	return b.String()
}

func selectList(d Syntax, s Shape) string {
	cols := make([]string, 0, len(s.Key)+len(s.Columns))
	for _, c := range s.Key {
		cols = append(cols, d.Quote(c))
	}
	for _, c := range s.Columns {
		cols = append(cols, d.Quote(c))
	}
	return "SELECT " + strings.Join(cols, ", ") + " FROM " + d.Quote(s.Table)
}

// paramsPerRead bounds the parameters of one read: under SQL Server's
// 2,100, and a thousand keys at most (Oracle's IN list limit).
const paramsPerRead = 2000

// Page returns up to n rows of s in key order: the first ones when after
// is nil, else those after the key values after (the last row's Key of
// the page before).
func (s *Sink) Page(ctx context.Context, shape Shape, after []string, n int) ([]Row, error) {
	if after != nil && len(after) != len(shape.Key) {
		return nil, fmt.Errorf("page of %s: %d key values for %d key columns", shape.Table, len(after), len(shape.Key))
	}
	var args []any
	for i, v := range PageArgs(after) {
		args = append(args, s.bind(shape, shape.Key[pageColumn(i)], v))
	}
	rows := make([]Row, 0, n)
	err := Each(ctx, s.db, scanRow(shape, &rows), PageSQL(s.d, shape, after != nil, n), args...)
	if err != nil {
		return nil, s.d.Classify(fmt.Errorf("read a page of %s: %w", s.d.Quote(shape.Table), err))
	}
	return rows, nil
}

// pageColumn is the key column of PageArgs' i-th argument.
func pageColumn(i int) int {
	for col := 0; ; col++ {
		if i <= col {
			return i
		}
		i -= col + 1
	}
}

// Rows returns the rows of s whose key is one of keys (each as many
// values as s has key columns), in no particular order; a key without a
// row has none.
func (s *Sink) Rows(ctx context.Context, shape Shape, keys [][]string) ([]Row, error) {
	return s.rows(ctx, s.db, shape, keys)
}

func (s *Sink) rows(ctx context.Context, q Queryer, shape Shape, keys [][]string) ([]Row, error) {
	per := max(1, min(1000, paramsPerRead/len(shape.Key)))
	out := make([]Row, 0, len(keys))
	for start := 0; start < len(keys); start += per {
		chunk := keys[start:min(start+per, len(keys))]
		args := make([]any, 0, len(chunk)*len(shape.Key))
		for _, k := range chunk {
			if len(k) != len(shape.Key) {
				return nil, fmt.Errorf("rows of %s: %d key values for %d key columns", shape.Table, len(k), len(shape.Key))
			}
			for i, v := range k {
				args = append(args, s.bind(shape, shape.Key[i], v))
			}
		}
		if err := Each(ctx, q, scanRow(shape, &out), RowsSQL(s.d, shape, len(chunk)), args...); err != nil {
			return nil, s.d.Classify(fmt.Errorf("read %d rows of %s: %w", len(chunk), s.d.Quote(shape.Table), err))
		}
	}
	return out, nil
}

// bind is v as the dialect binds it for column of shape's table.
func (s *Sink) bind(shape Shape, column string, v any) any {
	if b, ok := s.d.(Binder); ok {
		return b.Bind(shape.Table, column, v)
	}
	return v
}

// scanRow returns an Each scan that appends each row of shape to out.
func scanRow(shape Shape, out *[]Row) func(Rows) error {
	nk := len(shape.Key)
	return func(r Rows) error {
		vals := make([]sql.NullString, nk+len(shape.Columns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			return err
		}
		row := Row{Key: make([]string, nk), Values: vals[nk:]}
		for i := range nk {
			row.Key[i] = vals[i].String
		}
		*out = append(*out, row)
		return nil
	}
}

// Count returns how many rows table holds.
func (s *Sink) Count(ctx context.Context, table string) (int64, error) {
	var n int64
	err := Each(ctx, s.db, func(r Rows) error { return r.Scan(&n) }, "SELECT COUNT(*) FROM "+s.d.Quote(table))
	if err != nil {
		return 0, s.d.Classify(fmt.Errorf("count the rows of %s: %w", s.d.Quote(table), err))
	}
	return n, nil
}

// Probe writes upserts (ops of shape's table, keyed by its key columns,
// setting its columns) the way Write writes them, without the guards,
// reads their rows back and rolls everything back: what the database makes
// of each value (its type's own text), or the error that would refuse the
// write, classified (handlers.ErrPermanent: these ops can never be
// written). It takes the rows' locks for as long as it runs.
func (s *Sink) Probe(ctx context.Context, shape Shape, ops []handlers.Op) ([]Row, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return nil, s.d.Classify(fmt.Errorf("begin: %w", err))
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	keys := make([][]string, len(ops))
	for i, op := range ops {
		if op.Delete || op.Table != shape.Table {
			return nil, errors.New("a probe writes upserts of its shape's table only")
		}
		keys[i] = make([]string, len(op.Key))
		for j, c := range op.Key {
			keys[i][j] = fmt.Sprint(c.Value)
		}
	}
	for _, run := range connectors.Runs(ops) {
		if err := s.d.WriteRun(ctx, tx, run); err != nil {
			return nil, s.d.Classify(fmt.Errorf("upsert into %s: %w", s.d.Quote(shape.Table), err))
		}
	}
	return s.rows(ctx, tx, shape, keys)
}
