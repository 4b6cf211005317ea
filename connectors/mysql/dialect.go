package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"

	driver "github.com/go-sql-driver/mysql"

	"github.com/jetsync/jetsync/connectors/sqlsink"
	"github.com/jetsync/jetsync/handlers"
)

// dialect is MySQL's and MariaDB's: backquoted names, ? placeholders,
// multi-row INSERT ... ON DUPLICATE KEY UPDATE and DELETE ... IN, the guard
// of claim.go.
type dialect struct{}

var _ sqlsink.Dialect = dialect{}

func (dialect) Quote(name string) string { return quote(name) }

func (dialect) Param(int) string { return "?" }

func (dialect) Classify(err error) error { return classify(err) }

func (dialect) WriteRun(ctx context.Context, tx sqlsink.Tx, run []handlers.Op) error {
	return sqlsink.ExecAll(ctx, tx, statements(run))
}

func (dialect) CheckpointSQL() string {
	return "INSERT INTO " + sqlsink.CheckpointsTable + " (function_name, seq, updated_at) VALUES (?, ?, UTC_TIMESTAMP(6))" +
		" ON DUPLICATE KEY UPDATE seq = GREATEST(seq, VALUES(seq)), updated_at = VALUES(updated_at)"
}

// classify marks errors that this data can never get past as permanent;
// everything else (connections, timeouts, deadlocks, read-only, unknown) is
// transient.
func classify(err error) error {
	var me *driver.MySQLError
	if !errors.As(err, &me) {
		return err
	}
	switch me.Number {
	case 1048, // column cannot be null
		1062,       // duplicate entry on another unique key
		1264,       // out of range
		1265,       // data truncated
		1292,       // incorrect value
		1364,       // field has no default value
		1366,       // incorrect value for column
		1367,       // illegal value
		1406,       // data too long
		1416,       // cannot get geometry object
		1451, 1452, // foreign key
		1690,       // value out of range
		3819, 4025: // check constraint (MySQL, MariaDB)
		return handlers.Permanent(err)
	}
	return err
}

// quote returns a backquoted identifier.
func quote(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// Limits of one statement: MySQL allows 65,535 placeholders, and the
// interpolated statement must stay under max_allowed_packet (16 MiB by
// default on MariaDB, 64 MiB on MySQL 8); 4 MiB leaves room.
const (
	maxParams = 65535
	maxBytes  = 4 << 20
)

// statements turns a run of ops of one shape into as few statements as the
// limits allow.
func statements(ops []handlers.Op) []sqlsink.Statement {
	var out []sqlsink.Statement
	perRow := len(ops[0].Key) + len(ops[0].Values)
	for start := 0; start < len(ops); {
		end, size := start, 0
		for end < len(ops) && (end-start+1)*perRow <= maxParams && (end == start || size+opSize(ops[end]) <= maxBytes) {
			size += opSize(ops[end])
			end++
		}
		if ops[start].Delete {
			out = append(out, deleteSQL(ops[start:end]))
		} else {
			out = append(out, upsertSQL(ops[start:end]))
		}
		start = end
	}
	return out
}

func opSize(op handlers.Op) int {
	n := 0
	for _, cs := range [][]handlers.Column{op.Key, op.Values} {
		for _, c := range cs {
			n += 4
			if s, ok := c.Value.(string); ok {
				n += 2 * len(s) // escaping may double it
			} else if b, ok := c.Value.([]byte); ok {
				n += 2 * len(b)
			} else {
				n += 24
			}
		}
	}
	return n
}

func upsertSQL(ops []handlers.Op) sqlsink.Statement {
	first := ops[0]
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(quote(first.Table))
	b.WriteString(" (")
	cols := append(append([]handlers.Column{}, first.Key...), first.Values...)
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(c.Name))
	}
	b.WriteString(") VALUES ")
	row := "(" + strings.Repeat("?, ", len(cols)-1) + "?)"
	args := make([]any, 0, len(ops)*len(cols))
	for i, op := range ops {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
		for _, c := range op.Key {
			args = append(args, c.Value)
		}
		for _, c := range op.Values {
			args = append(args, c.Value)
		}
	}
	b.WriteString(" ON DUPLICATE KEY UPDATE ")
	update := first.Values
	if len(update) == 0 {
		update = first.Key[:1] // nothing to update: keep the row as it is
	}
	for i, c := range update {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s = VALUES(%s)", quote(c.Name), quote(c.Name))
	}
	return sqlsink.Statement{SQL: b.String(), Args: args}
}

func deleteSQL(ops []handlers.Op) sqlsink.Statement {
	first := ops[0]
	var b strings.Builder
	b.WriteString("DELETE FROM ")
	b.WriteString(quote(first.Table))
	b.WriteString(" WHERE ")
	args := make([]any, 0, len(ops)*len(first.Key))
	tuple := "?"
	if len(first.Key) == 1 {
		b.WriteString(quote(first.Key[0].Name))
	} else {
		b.WriteString("(")
		for i, c := range first.Key {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quote(c.Name))
		}
		b.WriteString(")")
		tuple = "(" + strings.Repeat("?, ", len(first.Key)-1) + "?)"
	}
	b.WriteString(" IN (")
	for i, op := range ops {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tuple)
		for _, c := range op.Key {
			args = append(args, c.Value)
		}
	}
	b.WriteString(")")
	return sqlsink.Statement{SQL: b.String(), Args: args}
}
