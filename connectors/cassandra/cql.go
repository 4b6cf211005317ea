package cassandra

import (
	"strings"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/handlers"
)

// quote returns a double-quoted CQL identifier (case-sensitive, any
// character; a quote is doubled).
func quote(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// stmt is one prepared statement and its values; the timestamp is the last
// bind value (USING TIMESTAMP ?).
type stmt struct {
	cql  string
	args []any
	ts   int64
	size int
}

// batch is statements of one partition, applied as one unlogged batch (or
// alone when there is one).
type batch struct {
	table string
	stmts []stmt
}

// Limits of one batch: Cassandra warns above 5 KiB and refuses batches
// above 50 KiB (batch_size_fail_threshold_in_kb); 40 KiB of values leaves
// room for the statements. A statement that is larger on its own is sent
// alone, not in a batch.
const maxBatchBytes = 40 << 10

// tsSlots is how many ops of one row in one write get distinct timestamps
// (seq*tsSlots + index); further ones share the last slot.
const tsSlots = 1024

// plan turns a write into batches, one or more per partition. partitionKey
// returns the partition key columns of a table (nil: all key columns).
func plan(w handlers.Write, partitionKey func(table string) []string, maxStmts int) []batch {
	seqs := connectors.OpSeqs(w)
	type group struct {
		table string
		stmts []stmt
	}
	var order []string
	groups := map[string]*group{}
	perRow := map[string]int{}
	for i, op := range w.Ops {
		row := op.Table + "\x00" + connectors.KeyString(op.Key)
		slot := min(perRow[row], tsSlots-1)
		perRow[row]++
		ts := int64(seqs[i])*tsSlots + int64(slot)
		st := statement(op, ts)
		part := op.Table + "\x00" + partitionString(op.Key, partitionKey(op.Table))
		g, ok := groups[part]
		if !ok {
			g = &group{table: op.Table}
			groups[part] = g
			order = append(order, part)
		}
		g.stmts = append(g.stmts, st)
	}
	var out []batch
	for _, part := range order {
		g := groups[part]
		cur := batch{table: g.table}
		size := 0
		for _, st := range g.stmts {
			if len(cur.stmts) > 0 && (len(cur.stmts) == maxStmts || size+st.size > maxBatchBytes) {
				out = append(out, cur)
				cur, size = batch{table: g.table}, 0
			}
			cur.stmts = append(cur.stmts, st)
			size += st.size
		}
		out = append(out, cur)
	}
	return out
}

func partitionString(key []handlers.Column, partition []string) string {
	if len(partition) == 0 {
		return connectors.KeyString(key)
	}
	var cols []handlers.Column
	for _, name := range partition {
		for _, c := range key {
			if strings.EqualFold(c.Name, name) {
				cols = append(cols, c)
			}
		}
	}
	return connectors.KeyString(cols)
}

// statement is the CQL of one op: an INSERT of the key and the named
// columns (the others keep their values; a nil value writes a null, which
// removes the cell) or a DELETE of the row, with USING TIMESTAMP.
func statement(op handlers.Op, ts int64) stmt {
	var b strings.Builder
	var args []any
	size := 0
	add := func(v any) {
		args = append(args, v)
		switch x := v.(type) {
		case string:
			size += len(x)
		case []byte:
			size += len(x)
		default:
			size += 8
		}
	}
	if op.Delete {
		b.WriteString("DELETE FROM " + quote(op.Table) + " USING TIMESTAMP ? WHERE ")
		args = append(args, ts)
		for i, c := range op.Key {
			if i > 0 {
				b.WriteString(" AND ")
			}
			b.WriteString(quote(c.Name) + " = ?")
			add(c.Value)
		}
		return stmt{cql: b.String(), args: args, ts: ts, size: size}
	}
	cols := append(append([]handlers.Column{}, op.Key...), op.Values...)
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = quote(c.Name)
		add(c.Value)
	}
	b.WriteString("INSERT INTO " + quote(op.Table) + " (" + strings.Join(names, ", ") + ") VALUES (")
	b.WriteString(strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", "))
	b.WriteString(") USING TIMESTAMP ?")
	args = append(args, ts)
	return stmt{cql: b.String(), args: args, ts: ts, size: size}
}
