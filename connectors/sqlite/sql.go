package sqlite

import (
	"math"
	"strconv"
	"strings"

	"github.com/jetsync/jetsync/connectors/sqlsink"
	"github.com/jetsync/jetsync/handlers"
)

// quote returns a double-quoted identifier.
var quote = sqlsink.QuoteDouble

// maxParams is SQLite's default SQLITE_MAX_VARIABLE_NUMBER (since 3.32).
const maxParams = 32766

// statements turns a run of ops of one shape into as few multi-row
// statements as the parameter limit allows.
func statements(ops []handlers.Op) []sqlsink.Statement {
	return sqlsink.Batched(ops, maxParams, upsertSQL, deleteSQL)
}

func columnList(cols ...[]handlers.Column) string { return sqlsink.ColumnList(quote, cols...) }

func tuple(n int) string { return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")" }

func upsertSQL(ops []handlers.Op) sqlsink.Statement {
	first := ops[0]
	perRow := len(first.Key) + len(first.Values)
	var b strings.Builder
	b.WriteString("INSERT INTO " + quote(first.Table) + " (")
	b.WriteString(columnList(first.Key, first.Values))
	b.WriteString(") VALUES ")
	row := tuple(perRow)
	args := make([]any, 0, len(ops)*perRow)
	for i, op := range ops {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
		for _, c := range op.Key {
			args = append(args, value(c.Value))
		}
		for _, c := range op.Values {
			args = append(args, value(c.Value))
		}
	}
	b.WriteString(" ON CONFLICT (" + columnList(first.Key) + ")")
	if len(first.Values) == 0 {
		b.WriteString(" DO NOTHING")
		return sqlsink.Statement{SQL: b.String(), Args: args}
	}
	b.WriteString(" DO UPDATE SET ")
	for i, c := range first.Values {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(c.Name) + " = excluded." + quote(c.Name))
	}
	return sqlsink.Statement{SQL: b.String(), Args: args}
}

func deleteSQL(ops []handlers.Op) sqlsink.Statement {
	first := ops[0]
	n := len(first.Key)
	var b strings.Builder
	b.WriteString("DELETE FROM " + quote(first.Table) + " WHERE ")
	one := "?"
	if n == 1 {
		b.WriteString(quote(first.Key[0].Name))
	} else {
		b.WriteString("(" + columnList(first.Key) + ")")
		one = tuple(n)
	}
	b.WriteString(" IN (")
	args := make([]any, 0, len(ops)*n)
	for i, op := range ops {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(one)
		for _, c := range op.Key {
			args = append(args, value(c.Value))
		}
	}
	b.WriteString(")")
	return sqlsink.Statement{SQL: b.String(), Args: args}
}

// value makes what functions put in a column storable: database/sql refuses
// unsigned integers above MaxInt64, which SQLite cannot hold as integers
// either, so those are stored as text.
func value(v any) any {
	if u, ok := v.(uint64); ok {
		if u > math.MaxInt64 {
			return strconv.FormatUint(u, 10)
		}
		return int64(u)
	}
	return v
}
