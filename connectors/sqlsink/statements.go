package sqlsink

import (
	"strconv"
	"strings"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/handlers"
)

// Batched turns a run of ops of one shape into as few multi-row statements
// as maxParams bind parameters allow, each built by upsert or del: a
// dialect's WriteRun for databases without a size limit of their own.
func Batched(ops []handlers.Op, maxParams int, upsert, del func([]handlers.Op) Statement) []Statement {
	ops = connectors.LastPerKey(ops)
	rows := max(1, maxParams/(len(ops[0].Key)+len(ops[0].Values)))
	var out []Statement
	for start := 0; start < len(ops); start += rows {
		chunk := ops[start:min(start+rows, len(ops))]
		if chunk[0].Delete {
			out = append(out, del(chunk))
		} else {
			out = append(out, upsert(chunk))
		}
	}
	return out
}

// ColumnList is the names of cols, each quoted by quote, comma-separated.
func ColumnList(quote func(string) string, cols ...[]handlers.Column) string {
	var names []string
	for _, cs := range cols {
		for _, c := range cs {
			names = append(names, quote(c.Name))
		}
	}
	return strings.Join(names, ", ")
}

// QuoteDouble quotes an identifier with double quotes, the SQL standard's
// way (PostgreSQL, SQLite, Oracle).
func QuoteDouble(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// UnsignedAsText passes v on, but unsigned integers as their decimal text:
// they may not fit a signed 64-bit parameter, and the database converts the
// text to the column's type (PostgreSQL, SQL Server).
func UnsignedAsText(v any) any {
	switch x := v.(type) {
	case uint64:
		return strconv.FormatUint(x, 10)
	case uint:
		return strconv.FormatUint(uint64(x), 10)
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	}
	return v
}
