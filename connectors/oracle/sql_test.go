package oracle

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/connectors/sqlsink"
	"github.com/jetsync/jetsync/handlers"
)

func col(name string, v any) handlers.Column { return handlers.Column{Name: name, Value: v} }

func TestIdent(t *testing.T) {
	for in, want := range map[string]string{"person_id": `"PERSON_ID"`, "Mixed Case": `"Mixed Case"`, "a$b#c": `"A$B#C"`, "1abc": `"1abc"`, "order": `"ORDER"`} {
		if got := Ident(in); got != want {
			t.Errorf("Ident(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestStatements(t *testing.T) {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		name string
		ops  []handlers.Op
		want []string
		args string
	}{
		{"merge with array binding", []handlers.Op{
			{Table: "persons", Key: []handlers.Column{col("person_id", "1")}, Values: []handlers.Column{col("first", "a"), col("age", "3")}},
			{Table: "persons", Key: []handlers.Column{col("person_id", "2")}, Values: []handlers.Column{col("first", nil), col("age", "4")}},
		}, []string{`MERGE INTO "PERSONS" t USING (SELECT :1 "PERSON_ID", :2 "FIRST", :3 "AGE" FROM dual) s ON (t."PERSON_ID" = s."PERSON_ID")` +
			` WHEN MATCHED THEN UPDATE SET t."FIRST" = s."FIRST", t."AGE" = s."AGE" WHEN NOT MATCHED THEN INSERT ("PERSON_ID", "FIRST", "AGE") VALUES (s."PERSON_ID", s."FIRST", s."AGE")`},
			`[[1 2] [a ] [3 4]]`},
		{"last op of a key wins, then a delete run", []handlers.Op{
			{Table: "t", Key: []handlers.Column{col("id", "1")}, Values: []handlers.Column{col("v", "old")}},
			{Table: "t", Key: []handlers.Column{col("id", "1")}, Values: []handlers.Column{col("v", "new")}},
			{Delete: true, Table: "t", Key: []handlers.Column{col("id", "2")}},
			{Delete: true, Table: "t", Key: []handlers.Column{col("id", "3")}},
		}, []string{
			`MERGE INTO "T" t USING (SELECT :1 "ID", :2 "V" FROM dual) s ON (t."ID" = s."ID") WHEN MATCHED THEN UPDATE SET t."V" = s."V" WHEN NOT MATCHED THEN INSERT ("ID", "V") VALUES (s."ID", s."V")`,
			`DELETE FROM "T" WHERE "ID" = :1`,
		}, `[[1] [new]] [[2 3]]`},
		{"key only, composite, quoted names", []handlers.Op{{Table: "Weird Table", Key: []handlers.Column{col("a", "1"), col("Key Col", uint64(7))}}},
			[]string{`MERGE INTO "Weird Table" t USING (SELECT :1 "A", :2 "Key Col" FROM dual) s ON (t."A" = s."A" AND t."Key Col" = s."Key Col") WHEN NOT MATCHED THEN INSERT ("A", "Key Col") VALUES (s."A", s."Key Col")`},
			`[[1] [7]]`},
		{"times bind as times", []handlers.Op{{Table: "h", Key: []handlers.Column{col("jetsync_seq", uint64(9))}, Values: []handlers.Column{col("jetsync_seen", ts)}}},
			[]string{`MERGE INTO "H" t USING (SELECT :1 "JETSYNC_SEQ", :2 "JETSYNC_SEEN" FROM dual) s ON (t."JETSYNC_SEQ" = s."JETSYNC_SEQ") WHEN MATCHED THEN UPDATE SET t."JETSYNC_SEEN" = s."JETSYNC_SEEN" WHEN NOT MATCHED THEN INSERT ("JETSYNC_SEQ", "JETSYNC_SEEN") VALUES (s."JETSYNC_SEQ", s."JETSYNC_SEEN")`},
			`[[9] [2024-05-06 07:08:09 +0000 UTC]]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got, args []string
			for _, st := range runStatements(tt.ops) {
				got = append(got, st.sql)
				args = append(args, fmt.Sprint(st.args))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("\n got %s\nwant %s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if strings.Join(args, " ") != tt.args {
				t.Errorf("args %s, want %s", strings.Join(args, " "), tt.args)
			}
		})
	}
	var many []handlers.Op
	for i := range 12000 {
		many = append(many, handlers.Op{Table: "t", Key: []handlers.Column{col("id", fmt.Sprint(i))}})
	}
	sts := statements(many)
	if len(sts) != 3 || sts[0].rows != rowsPerExec || sts[2].rows != 2000 {
		t.Fatalf("12,000 rows in %d statements", len(sts))
	}
}

// runStatements is what the sink sends for ops: the statements of each run.
func runStatements(ops []handlers.Op) []statement {
	var out []statement
	for _, run := range connectors.Runs(ops) {
		out = append(out, statements(run)...)
	}
	return out
}

func TestStateSQL(t *testing.T) {
	if got := selectKeysSQL(3); got != "SELECT KEY_HASH, SEQ FROM JETSYNC_APPLIED WHERE FUNCTION_NAME = :1 AND KEY_HASH IN (:2, :3, :4) FOR UPDATE" {
		t.Fatal(got)
	}
	for _, sql := range []string{lockKeysSQL, recordKeysSQL, checkpointSQL} {
		if strings.Count(sql, "(") != strings.Count(sql, ")") {
			t.Fatalf("unbalanced: %s", sql)
		}
	}
	if !strings.Contains(recordKeysSQL, "GREATEST(SEQ, :1)") || !strings.Contains(checkpointSQL, "GREATEST(c.SEQ, s.SEQ)") {
		t.Fatal("sequences must never move back")
	}
}

func TestPermanentCodes(t *testing.T) {
	for _, c := range []int{1, 1400, 12899, 1722, 2290, 2291} {
		if !permanentCodes[c] {
			t.Errorf("ORA-%05d should be permanent", c)
		}
	}
	for _, c := range []int{60, 3113, 3114, 12541, 12514, 1017} { // deadlock, lost connection, no listener, unknown service, bad login
		if permanentCodes[c] {
			t.Errorf("ORA-%05d should be transient", c)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{ConnectString: "db:1521/X", User: "u", MaxConns: 1, Timeout: time.Second}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.ConnectString = ""
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "JETSYNC_ORACLE_CONNECT_STRING") {
		t.Fatalf("Validate = %v", err)
	}
}

// TestPageSQL: verify's reads in Oracle's syntax: a keyset page ends with
// FETCH FIRST (no LIMIT), names as Ident makes them, :n placeholders, and a
// composite key compares column by column (no row values).
func TestPageSQL(t *testing.T) {
	one := sqlsink.Shape{Table: "people", Key: []string{"id"}, Columns: []string{"name", "Age"}}
	two := sqlsink.Shape{Table: "people", Key: []string{"a", "b"}, Columns: []string{"name"}}
	for _, tt := range []struct{ got, want string }{
		{sqlsink.PageSQL(syntax{}, one, false, 1000), `SELECT "ID", "NAME", "AGE" FROM "PEOPLE" ORDER BY "ID" FETCH FIRST 1000 ROWS ONLY`},
		{sqlsink.PageSQL(syntax{}, one, true, 500), `SELECT "ID", "NAME", "AGE" FROM "PEOPLE" WHERE ("ID" > :1) ORDER BY "ID" FETCH FIRST 500 ROWS ONLY`},
		{sqlsink.PageSQL(syntax{}, two, true, 10), `SELECT "A", "B", "NAME" FROM "PEOPLE" WHERE ("A" > :1) OR ("A" = :2 AND "B" > :3) ORDER BY "A", "B" FETCH FIRST 10 ROWS ONLY`},
		{sqlsink.RowsSQL(syntax{}, one, 2), `SELECT "ID", "NAME", "AGE" FROM "PEOPLE" WHERE "ID" IN (:1, :2)`},
		{sqlsink.RowsSQL(syntax{}, two, 2), `SELECT "A", "B", "NAME" FROM "PEOPLE" WHERE ("A" = :1 AND "B" = :2) OR ("A" = :3 AND "B" = :4)`},
	} {
		if tt.got != tt.want {
			t.Errorf("got  %s\nwant %s", tt.got, tt.want)
		}
	}
}
