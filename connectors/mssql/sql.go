package mssql

import (
	"strconv"
	"strings"

	"github.com/jetsync/jetsync/connectors/sqlsink"
	"github.com/jetsync/jetsync/handlers"
)

// quote returns a bracketed identifier.
func quote(name string) string { return "[" + strings.ReplaceAll(name, "]", "]]") + "]" }

func param(n int) string { return "@p" + strconv.Itoa(n) }

// limit ends an ordered SELECT after n rows: SQL Server has no LIMIT.
func limit(n int) string { return "OFFSET 0 ROWS FETCH NEXT " + strconv.Itoa(n) + " ROWS ONLY" }

// maxParams stays under SQL Server's 2,100 parameters of one request.
const maxParams = 2000

// statements turns a run of ops of one shape into as few multi-row
// statements as the parameter limit allows (a MERGE cannot update one row
// twice: only the last op of each key is kept).
func statements(ops []handlers.Op) []sqlsink.Statement {
	return sqlsink.Batched(ops, maxParams, mergeSQL, deleteSQL)
}

func columnList(prefix string, cols ...[]handlers.Column) string {
	return sqlsink.ColumnList(func(n string) string { return prefix + quote(n) }, cols...)
}

// mergeSQL is MERGE INTO t WITH (HOLDLOCK) AS t USING (VALUES (@p1, @p2),
// ...) AS s ([k], [c]) ON t.[k] = s.[k] WHEN MATCHED THEN UPDATE SET t.[c] =
// s.[c] WHEN NOT MATCHED THEN INSERT ([k], [c]) VALUES (s.[k], s.[c]);
// only the mapped columns are set, so unmapped ones keep their values.
func mergeSQL(ops []handlers.Op) sqlsink.Statement {
	first := ops[0]
	perRow := len(first.Key) + len(first.Values)
	var b strings.Builder
	b.WriteString("MERGE INTO " + quote(first.Table) + " WITH (HOLDLOCK) AS t USING (VALUES ")
	args := make([]any, 0, len(ops)*perRow)
	for i, op := range ops {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j, c := range append(append([]handlers.Column{}, op.Key...), op.Values...) {
			if j > 0 {
				b.WriteString(", ")
			}
			args = append(args, value(c.Value))
			b.WriteString(param(len(args)))
		}
		b.WriteByte(')')
	}
	b.WriteString(") AS s (" + columnList("", first.Key, first.Values) + ") ON ")
	for i, c := range first.Key {
		if i > 0 {
			b.WriteString(" AND ")
		}
		b.WriteString("t." + quote(c.Name) + " = s." + quote(c.Name))
	}
	if len(first.Values) > 0 {
		b.WriteString(" WHEN MATCHED THEN UPDATE SET ")
		for i, c := range first.Values {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("t." + quote(c.Name) + " = s." + quote(c.Name))
		}
	}
	b.WriteString(" WHEN NOT MATCHED THEN INSERT (" + columnList("", first.Key, first.Values) + ") VALUES (" + columnList("s.", first.Key, first.Values) + ");")
	return sqlsink.Statement{SQL: b.String(), Args: args}
}

// deleteSQL is DELETE FROM t WHERE ([k] = @p1) OR ([k] = @p2) ...
func deleteSQL(ops []handlers.Op) sqlsink.Statement {
	first := ops[0]
	var b strings.Builder
	b.WriteString("DELETE FROM " + quote(first.Table) + " WHERE ")
	args := make([]any, 0, len(ops)*len(first.Key))
	for i, op := range ops {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteByte('(')
		for j, c := range op.Key {
			if j > 0 {
				b.WriteString(" AND ")
			}
			args = append(args, value(c.Value))
			b.WriteString(quote(c.Name) + " = " + param(len(args)))
		}
		b.WriteByte(')')
	}
	return sqlsink.Statement{SQL: b.String(), Args: args}
}

// value is what is bound for a column's value (sqlsink.UnsignedAsText).
var value = sqlsink.UnsignedAsText

// asBytes returns run with the text values of binary columns as bytes.
func asBytes(run []handlers.Op, binary map[string]bool) []handlers.Op {
	conv := func(cols []handlers.Column) []handlers.Column {
		out := make([]handlers.Column, len(cols))
		for i, c := range cols {
			out[i] = c
			if s, ok := c.Value.(string); ok && binary[c.Name] {
				out[i].Value = []byte(s)
			}
		}
		return out
	}
	out := make([]handlers.Op, len(run))
	for i, op := range run {
		out[i] = op
		out[i].Key, out[i].Values = conv(op.Key), conv(op.Values)
	}
	return out
}

// keysPerClaim bounds the keys of one claim statement: three parameters
// each, under the 2,100 limit.
const keysPerClaim = 600

// claimSQL claims n keys in one MERGE WITH (HOLDLOCK): new keys are
// inserted with their order, existing ones raised to at least it, and
// OUTPUT returns each key's hash and its order before (NULL for a new
// key). Arguments: (function, hash, seq) per key.
func claimSQL(n int) string {
	var b strings.Builder
	b.WriteString("MERGE INTO " + sqlsink.AppliedTable + " WITH (HOLDLOCK) AS t USING (VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(" + param(3*i+1) + ", " + param(3*i+2) + ", " + param(3*i+3) + ")")
	}
	b.WriteString(") AS s (function_name, key_hash, seq) ON t.function_name = s.function_name AND t.key_hash = s.key_hash" +
		" WHEN MATCHED THEN UPDATE SET t.seq = CASE WHEN s.seq > t.seq THEN s.seq ELSE t.seq END" +
		" WHEN NOT MATCHED THEN INSERT (function_name, key_hash, seq) VALUES (s.function_name, s.key_hash, s.seq)" +
		" OUTPUT inserted.key_hash, deleted.seq;")
	return b.String()
}

// checkpointSQL raises the checkpoint of function @p1 to @p2.
const checkpointSQL = "MERGE INTO " + sqlsink.CheckpointsTable + " WITH (HOLDLOCK) AS t USING (VALUES (@p1, @p2)) AS s (function_name, seq)" +
	" ON t.function_name = s.function_name" +
	" WHEN MATCHED THEN UPDATE SET t.seq = CASE WHEN s.seq > t.seq THEN s.seq ELSE t.seq END, t.updated_at = SYSUTCDATETIME()" +
	" WHEN NOT MATCHED THEN INSERT (function_name, seq, updated_at) VALUES (s.function_name, s.seq, SYSUTCDATETIME());"

// permanentNumbers are the SQL Server errors that no retry of the same
// data fixes.
var permanentNumbers = map[int32]bool{
	245:  true, // conversion failed (text into a number column)
	515:  true, // NULL into a NOT NULL column
	547:  true, // CHECK or foreign key constraint
	2601: true, // duplicate key in a unique index (another unique key)
	2627: true, // unique or primary key constraint
	2628: true, // string or binary data would be truncated (2019+)
	8114: true, // error converting data type
	8115: true, // arithmetic overflow
	8152: true, // string or binary data would be truncated
	242:  true, // out-of-range datetime
	241:  true, // conversion of a date/time string failed
}
