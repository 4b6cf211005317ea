package oracle

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/handlers"
)

var simpleName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_$#]*$`)

// Ident returns name as Oracle stores it, quoted: a simple name upper-cased
// (as an unquoted name would be), any other name exactly as given.
func Ident(name string) string {
	if simpleName.MatchString(name) {
		name = strings.ToUpper(name)
	}
	return `"` + name + `"`
}

// syntax is how Oracle spells names, placeholders and a row limit (the
// dialect's, in every build, so that its statements are tested without
// the driver).
type syntax struct{}

func (syntax) Quote(name string) string { return Ident(name) }

func (syntax) Param(n int) string { return ":" + strconv.Itoa(n) }

// Limit ends an ordered SELECT after n rows (Oracle 12c and newer).
func (syntax) Limit(n int) string { return "FETCH FIRST " + strconv.Itoa(n) + " ROWS ONLY" }

// statement is SQL executed once with array binding: args holds one slice
// per bind variable, each with a value per row.
type statement struct {
	sql  string
	args []any
	rows int
}

// rowsPerExec bounds the rows of one array-bound execution.
const rowsPerExec = 5000

// statements turns a run of ops of one table and shape (connectors.Runs)
// into array-bound statements, one per rowsPerExec rows. A MERGE cannot
// update one row twice, so only the last op of each key is kept.
func statements(run []handlers.Op) []statement {
	var out []statement
	run = connectors.LastPerKey(run)
	for start := 0; start < len(run); start += rowsPerExec {
		chunk := run[start:min(start+rowsPerExec, len(run))]
		if chunk[0].Delete {
			out = append(out, deleteSQL(chunk))
		} else {
			out = append(out, mergeSQL(chunk))
		}
	}
	return out
}

func columnValues(cols []handlers.Column) []any {
	out := make([]any, len(cols))
	for i, c := range cols {
		out[i] = c.Value
	}
	return out
}

// mergeSQL is MERGE INTO t USING (SELECT :1 "K", :2 "C" FROM dual) s ON
// (t."K" = s."K") WHEN MATCHED THEN UPDATE SET t."C" = s."C" WHEN NOT
// MATCHED THEN INSERT ("K", "C") VALUES (s."K", s."C").
func mergeSQL(ops []handlers.Op) statement {
	first := ops[0]
	cols := append(append([]handlers.Column{}, first.Key...), first.Values...)
	var sel, names, vals, on, set []string
	for i, c := range cols {
		sel = append(sel, ":"+strconv.Itoa(i+1)+" "+Ident(c.Name))
		names = append(names, Ident(c.Name))
		vals = append(vals, "s."+Ident(c.Name))
	}
	for _, c := range first.Key {
		on = append(on, "t."+Ident(c.Name)+" = s."+Ident(c.Name))
	}
	for _, c := range first.Values {
		set = append(set, "t."+Ident(c.Name)+" = s."+Ident(c.Name))
	}
	sql := "MERGE INTO " + Ident(first.Table) + " t USING (SELECT " + strings.Join(sel, ", ") + " FROM dual) s ON (" + strings.Join(on, " AND ") + ")"
	if len(set) > 0 {
		sql += " WHEN MATCHED THEN UPDATE SET " + strings.Join(set, ", ")
	}
	sql += " WHEN NOT MATCHED THEN INSERT (" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(vals, ", ") + ")"
	args := make([]any, len(cols))
	for i := range cols {
		col := make([]any, len(ops))
		for r, op := range ops {
			if i < len(op.Key) {
				col[r] = op.Key[i].Value
			} else {
				col[r] = op.Values[i-len(op.Key)].Value
			}
		}
		args[i] = bindColumn(col)
	}
	return statement{sql: sql, args: args, rows: len(ops)}
}

func deleteSQL(ops []handlers.Op) statement {
	first := ops[0]
	var where []string
	args := make([]any, len(first.Key))
	for i, c := range first.Key {
		where = append(where, Ident(c.Name)+" = :"+strconv.Itoa(i+1))
		col := make([]any, len(ops))
		for r, op := range ops {
			col[r] = op.Key[i].Value
		}
		args[i] = bindColumn(col)
	}
	return statement{sql: "DELETE FROM " + Ident(first.Table) + " WHERE " + strings.Join(where, " AND "), args: args, rows: len(ops)}
}

// bindColumn turns one column's values into the slice an array bind takes:
// []time.Time when every value is a time, else []string (Oracle converts a
// string to the column's type; nil becomes "", which Oracle stores as NULL).
func bindColumn(vals []any) any {
	times := make([]time.Time, len(vals))
	allTimes := true
	for i, v := range vals {
		t, ok := v.(time.Time)
		if !ok {
			allTimes = false
			break
		}
		times[i] = t
	}
	if allTimes {
		return times
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		switch x := v.(type) {
		case nil:
		case string:
			out[i] = x
		case []byte:
			out[i] = string(x)
		case time.Time:
			out[i] = x.UTC().Format("2006-01-02 15:04:05.999999999")
		default:
			out[i] = fmt.Sprint(x)
		}
	}
	return out
}

// permanentCodes are the ORA errors that no retry of the same data fixes.
var permanentCodes = map[int]bool{
	1:     true,                                                             // unique constraint (another unique key)
	1400:  true,                                                             // cannot insert NULL
	1407:  true,                                                             // cannot update to NULL
	1401:  true,                                                             // inserted value too large
	12899: true,                                                             // value too large for column
	1438:  true,                                                             // value larger than precision
	1722:  true,                                                             // invalid number
	1840:  true, 1841: true, 1843: true, 1847: true, 1858: true, 1861: true, // bad dates
	2290: true, // check constraint
	2291: true, // parent key not found
	2292: true, // child record found
}

// Statements of jetsync's state tables (see infra/sql/oracle/jetsync_state.sql).
const (
	lockKeysSQL = `MERGE INTO JETSYNC_APPLIED a USING (SELECT :1 FUNCTION_NAME, :2 KEY_HASH FROM dual) s
ON (a.FUNCTION_NAME = s.FUNCTION_NAME AND a.KEY_HASH = s.KEY_HASH)
WHEN NOT MATCHED THEN INSERT (FUNCTION_NAME, KEY_HASH, SEQ) VALUES (s.FUNCTION_NAME, s.KEY_HASH, 0)`
	recordKeysSQL = `UPDATE JETSYNC_APPLIED SET SEQ = GREATEST(SEQ, :1) WHERE FUNCTION_NAME = :2 AND KEY_HASH = :3`
	checkpointSQL = `MERGE INTO JETSYNC_CHECKPOINTS c USING (SELECT :1 FUNCTION_NAME, :2 SEQ FROM dual) s
ON (c.FUNCTION_NAME = s.FUNCTION_NAME)
WHEN MATCHED THEN UPDATE SET c.SEQ = GREATEST(c.SEQ, s.SEQ), c.UPDATED_AT = SYS_EXTRACT_UTC(SYSTIMESTAMP)
WHEN NOT MATCHED THEN INSERT (FUNCTION_NAME, SEQ, UPDATED_AT) VALUES (s.FUNCTION_NAME, s.SEQ, SYS_EXTRACT_UTC(SYSTIMESTAMP))`
)

// selectKeysSQL reads and locks the sequences of n keys of one function.
func selectKeysSQL(n int) string {
	binds := make([]string, n)
	for i := range binds {
		binds[i] = ":" + strconv.Itoa(i+2)
	}
	return "SELECT KEY_HASH, SEQ FROM JETSYNC_APPLIED WHERE FUNCTION_NAME = :1 AND KEY_HASH IN (" + strings.Join(binds, ", ") + ") FOR UPDATE"
}
