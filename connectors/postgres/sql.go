package postgres

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jetsync/jetsync/connectors/sqlsink"
	"github.com/jetsync/jetsync/handlers"
)

// quote returns a double-quoted identifier. PostgreSQL folds unquoted names
// to lower case, so names are used exactly as the function gives them.
var quote = sqlsink.QuoteDouble

// maxParams is PostgreSQL's limit of bind parameters in one statement.
const maxParams = 65535

// statements turns a run of ops of one shape into as few multi-row
// statements as the parameter limit allows.
func statements(ops []handlers.Op) []sqlsink.Statement {
	return sqlsink.Batched(ops, maxParams, upsertSQL, deleteSQL)
}

func columnList(cols ...[]handlers.Column) string { return sqlsink.ColumnList(quote, cols...) }

// conflictClause is the ON CONFLICT part of an upsert of op's shape: only
// the columns named are set, so unmapped columns keep their values.
func conflictClause(op handlers.Op) string {
	if len(op.Values) == 0 {
		return " ON CONFLICT (" + columnList(op.Key) + ") DO NOTHING"
	}
	sets := make([]string, len(op.Values))
	for i, c := range op.Values {
		sets[i] = quote(c.Name) + " = EXCLUDED." + quote(c.Name)
	}
	return " ON CONFLICT (" + columnList(op.Key) + ") DO UPDATE SET " + strings.Join(sets, ", ")
}

func upsertSQL(ops []handlers.Op) sqlsink.Statement {
	first := ops[0]
	perRow := len(first.Key) + len(first.Values)
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(quote(first.Table))
	b.WriteString(" (")
	b.WriteString(columnList(first.Key, first.Values))
	b.WriteString(") VALUES ")
	args := make([]any, 0, len(ops)*perRow)
	for i, op := range ops {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range perRow {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(i*perRow + j + 1))
		}
		b.WriteByte(')')
		for _, c := range op.Key {
			args = append(args, value(c.Value))
		}
		for _, c := range op.Values {
			args = append(args, value(c.Value))
		}
	}
	b.WriteString(conflictClause(first))
	return sqlsink.Statement{SQL: b.String(), Args: args}
}

func deleteSQL(ops []handlers.Op) sqlsink.Statement {
	first := ops[0]
	n := len(first.Key)
	var b strings.Builder
	b.WriteString("DELETE FROM ")
	b.WriteString(quote(first.Table))
	b.WriteString(" WHERE ")
	if n == 1 {
		b.WriteString(quote(first.Key[0].Name))
	} else {
		b.WriteString("(" + columnList(first.Key) + ")")
	}
	b.WriteString(" IN (")
	args := make([]any, 0, len(ops)*n)
	for i, op := range ops {
		if i > 0 {
			b.WriteString(", ")
		}
		if n > 1 {
			b.WriteByte('(')
		}
		for j, c := range op.Key {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(len(args) + 1))
			args = append(args, value(c.Value))
		}
		if n > 1 {
			b.WriteByte(')')
		}
	}
	b.WriteString(")")
	return sqlsink.Statement{SQL: b.String(), Args: args}
}

// value is what is bound for a column's value (sqlsink.UnsignedAsText).
var value = sqlsink.UnsignedAsText

// copyText renders v in COPY's text format (NULL is \N).
func copyText(b *strings.Builder, v any) {
	var s string
	switch x := v.(type) {
	case nil:
		b.WriteString(`\N`)
		return
	case string:
		s = x
	case []byte:
		s = `\x` + fmt.Sprintf("%x", x)
	case time.Time:
		s = x.Format(time.RFC3339Nano)
	case bool:
		s = map[bool]string{true: "t", false: "f"}[x]
	default:
		s = fmt.Sprint(x)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
}
