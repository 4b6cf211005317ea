package mssql

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	mssqldb "github.com/microsoft/go-mssqldb"

	"github.com/jetsync/jetsync/connectors/sqlsink"
	"github.com/jetsync/jetsync/handlers"
)

func op(table string, id any, values ...handlers.Column) handlers.Op {
	return handlers.Op{Table: table, Key: []handlers.Column{{Name: "id", Value: id}}, Values: values}
}

func TestMergeSQL(t *testing.T) {
	st := statements([]handlers.Op{
		op("people", "1", handlers.Column{Name: "name", Value: "a"}, handlers.Column{Name: "age", Value: uint64(7)}),
		op("people", "2", handlers.Column{Name: "name", Value: nil}, handlers.Column{Name: "age", Value: "8"}),
		op("people", "1", handlers.Column{Name: "name", Value: "b"}, handlers.Column{Name: "age", Value: "9"}),
	})
	if len(st) != 1 {
		t.Fatalf("%d statements, want 1", len(st))
	}
	want := "MERGE INTO [people] WITH (HOLDLOCK) AS t USING (VALUES (@p1, @p2, @p3), (@p4, @p5, @p6)) AS s ([id], [name], [age])" +
		" ON t.[id] = s.[id] WHEN MATCHED THEN UPDATE SET t.[name] = s.[name], t.[age] = s.[age]" +
		" WHEN NOT MATCHED THEN INSERT ([id], [name], [age]) VALUES (s.[id], s.[name], s.[age]);"
	if st[0].SQL != want {
		t.Fatalf("SQL\n%s\nwant\n%s", st[0].SQL, want)
	}
	// The last op of key 1 is kept (a MERGE cannot update a row twice), and
	// an unsigned integer goes as text.
	if args := []any{"2", nil, "8", "1", "b", "9"}; !reflect.DeepEqual(st[0].Args, args) {
		t.Fatalf("args %#v, want %#v", st[0].Args, args)
	}
	st = statements([]handlers.Op{op("people", "1", handlers.Column{Name: "age", Value: uint64(7)})})
	if st[0].Args[1] != "7" {
		t.Fatalf("uint64 bound as %#v, want the text 7", st[0].Args[1])
	}
}

func TestMergeWithoutValues(t *testing.T) {
	st := statements([]handlers.Op{op("t", "1")})
	if strings.Contains(st[0].SQL, "WHEN MATCHED") || !strings.HasSuffix(st[0].SQL, "WHEN NOT MATCHED THEN INSERT ([id]) VALUES (s.[id]);") {
		t.Fatalf("SQL %s: a key-only row must only be inserted", st[0].SQL)
	}
}

func TestDeleteSQL(t *testing.T) {
	ops := []handlers.Op{
		{Delete: true, Table: "orders", Key: []handlers.Column{{Name: "shop", Value: "s"}, {Name: "id", Value: 1}}},
		{Delete: true, Table: "orders", Key: []handlers.Column{{Name: "shop", Value: "s"}, {Name: "id", Value: 2}}},
	}
	st := statements(ops)
	if want := "DELETE FROM [orders] WHERE ([shop] = @p1 AND [id] = @p2) OR ([shop] = @p3 AND [id] = @p4)"; st[0].SQL != want {
		t.Fatalf("SQL %s, want %s", st[0].SQL, want)
	}
	if !reflect.DeepEqual(st[0].Args, []any{"s", 1, "s", 2}) {
		t.Fatalf("args %#v", st[0].Args)
	}
}

// TestStatementsStayUnderLimits: a run too large for one statement is
// split under SQL Server's 2,100 parameters.
func TestStatementsStayUnderLimits(t *testing.T) {
	ops := make([]handlers.Op, 5000)
	for i := range ops {
		ops[i] = op("people", fmt.Sprint(i), handlers.Column{Name: "name", Value: "n"}, handlers.Column{Name: "age", Value: i})
	}
	rows := 0
	for _, st := range statements(ops) {
		if len(st.Args) > 2100 {
			t.Fatalf("a statement of %d parameters", len(st.Args))
		}
		rows += len(st.Args) / 3
	}
	if rows != len(ops) {
		t.Fatalf("%d rows in the statements, want %d", rows, len(ops))
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{"name": "[name]", "select": "[select]", "a]b": "[a]]b]", `quo"te`: `[quo"te]`} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestClaimSQL(t *testing.T) {
	want := "MERGE INTO jetsync_applied WITH (HOLDLOCK) AS t USING (VALUES (@p1, @p2, @p3), (@p4, @p5, @p6)) AS s (function_name, key_hash, seq)" +
		" ON t.function_name = s.function_name AND t.key_hash = s.key_hash" +
		" WHEN MATCHED THEN UPDATE SET t.seq = CASE WHEN s.seq > t.seq THEN s.seq ELSE t.seq END" +
		" WHEN NOT MATCHED THEN INSERT (function_name, key_hash, seq) VALUES (s.function_name, s.key_hash, s.seq)" +
		" OUTPUT inserted.key_hash, deleted.seq;"
	if got := claimSQL(2); got != want {
		t.Fatalf("claim\n%s\nwant\n%s", got, want)
	}
	if 3*keysPerClaim > 2100 {
		t.Fatalf("%d keys per claim take %d parameters", keysPerClaim, 3*keysPerClaim)
	}
}

func TestClassify(t *testing.T) {
	for n, permanent := range map[int32]bool{245: true, 515: true, 2627: true, 8152: true, 2628: true, 8115: true, 1205: false, 1222: false, 4060: false} {
		err := classify(fmt.Errorf("write: %w", mssqldb.Error{Number: n, Message: "x"}))
		if handlers.IsPermanent(err) != permanent {
			t.Errorf("error %d: permanent %v, want %v", n, handlers.IsPermanent(err), permanent)
		}
	}
	if handlers.IsPermanent(classify(errors.New("connection reset"))) {
		t.Error("a network error is permanent")
	}
}

func TestConfig(t *testing.T) {
	good := Config{Addr: "127.0.0.1:1433", User: "sa", Database: "test", Encrypt: "true", MaxConns: 4, Timeout: 5 * time.Second}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		mod  func(*Config)
		want string
	}{
		"addr":     {func(c *Config) { c.Addr = "db" }, "JETSYNC_MSSQL_ADDR"},
		"user":     {func(c *Config) { c.User = "" }, "JETSYNC_MSSQL_USER"},
		"database": {func(c *Config) { c.Database = "" }, "JETSYNC_MSSQL_DATABASE"},
		"encrypt":  {func(c *Config) { c.Encrypt = "yes" }, "JETSYNC_MSSQL_ENCRYPT"},
		"conns":    {func(c *Config) { c.MaxConns = 0 }, "JETSYNC_MSSQL_MAX_CONNS"},
		"password": {func(c *Config) { c.Password, c.PasswordFile = "x", "/f" }, "both set"},
	} {
		cfg := good
		c.mod(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", name, err, c.want)
		}
	}
	dsn := good.dsn("p@ss word")
	if !strings.HasPrefix(dsn, "sqlserver://sa:p%40ss%20word@127.0.0.1:1433?") || !strings.Contains(dsn, "database=test") || !strings.Contains(dsn, "encrypt=true") {
		t.Fatalf("dsn %s", dsn)
	}
}

// TestStateSQLMatchesInfra: the state tables the connector creates are the
// ones infra/sql/mssql/jetsync_state.sql gives a DBA.
func TestStateSQLMatchesInfra(t *testing.T) {
	b, err := os.ReadFile("../../infra/sql/mssql/jetsync_state.sql")
	if err != nil {
		t.Fatal(err)
	}
	file := strings.Join(strings.Fields(string(b)), " ")
	for _, ddl := range stateSQL {
		if !strings.Contains(file, strings.Join(strings.Fields(ddl), " ")) {
			t.Errorf("infra/sql/mssql/jetsync_state.sql lacks\n%s", ddl)
		}
	}
}

func TestKeyFolds(t *testing.T) {
	for _, c := range []struct {
		typ, collation string
		folds          bool
	}{
		{"varbinary", "", false},
		{"int", "", false},
		{"bigint", "", false},
		{"nvarchar", "Latin1_General_100_BIN2_UTF8", true}, // trailing spaces, even binary
		{"varchar", "Latin1_General_BIN", true},
		{"nvarchar", "SQL_Latin1_General_CP1_CI_AS", true},
		{"nchar", "Latin1_General_BIN2", true},
		{"binary", "", true},
	} {
		err := keyFolds("persons", "person_id", c.typ, c.collation, "fix")
		if (err != nil) != c.folds {
			t.Errorf("%s %s: %v, want folds %v", c.typ, c.collation, err, c.folds)
		}
		if err != nil && !strings.Contains(err.Error(), "JETSYNC_KEY_COLLATION=any") {
			t.Errorf("%s %s: %v does not say how to accept it", c.typ, c.collation, err)
		}
	}
}

// TestBinaryKeysGoAsBytes: text for a VARBINARY column is bound as bytes
// (SQL Server converts no text to VARBINARY implicitly).
func TestBinaryKeysGoAsBytes(t *testing.T) {
	run := asBytes([]handlers.Op{op("persons", "5", handlers.Column{Name: "first", Value: "Marek"})}, map[string]bool{"id": true})
	st := statements(run)
	if b, ok := st[0].Args[0].([]byte); !ok || string(b) != "5" {
		t.Fatalf("key bound as %#v, want []byte(\"5\")", st[0].Args[0])
	}
	if st[0].Args[1] != "Marek" {
		t.Fatalf("text column bound as %#v", st[0].Args[1])
	}
}

// TestPageSQL: verify's reads in SQL Server's syntax: a keyset page ends
// with OFFSET ... FETCH NEXT (no LIMIT), a composite key compares column
// by column, and text bound for a binary key column goes as bytes.
func TestPageSQL(t *testing.T) {
	d := &dialect{binary: map[string]map[string]bool{"people": {"id": true}}}
	one := sqlsink.Shape{Table: "people", Key: []string{"id"}, Columns: []string{"name", "age"}}
	two := sqlsink.Shape{Table: "people", Key: []string{"a", "b"}, Columns: []string{"name"}}
	for _, tt := range []struct{ got, want string }{
		{sqlsink.PageSQL(d, one, false, 1000), "SELECT [id], [name], [age] FROM [people] ORDER BY [id] OFFSET 0 ROWS FETCH NEXT 1000 ROWS ONLY"},
		{sqlsink.PageSQL(d, one, true, 500), "SELECT [id], [name], [age] FROM [people] WHERE ([id] > @p1) ORDER BY [id] OFFSET 0 ROWS FETCH NEXT 500 ROWS ONLY"},
		{sqlsink.PageSQL(d, two, true, 10), "SELECT [a], [b], [name] FROM [people] WHERE ([a] > @p1) OR ([a] = @p2 AND [b] > @p3) ORDER BY [a], [b] OFFSET 0 ROWS FETCH NEXT 10 ROWS ONLY"},
		{sqlsink.RowsSQL(d, one, 3), "SELECT [id], [name], [age] FROM [people] WHERE [id] IN (@p1, @p2, @p3)"},
		{sqlsink.RowsSQL(d, two, 2), "SELECT [a], [b], [name] FROM [people] WHERE ([a] = @p1 AND [b] = @p2) OR ([a] = @p3 AND [b] = @p4)"},
	} {
		if tt.got != tt.want {
			t.Errorf("got  %s\nwant %s", tt.got, tt.want)
		}
	}
	if got := fmt.Sprint(sqlsink.PageArgs([]string{"x", "y"})); got != "[x x y]" {
		t.Errorf("PageArgs = %s", got)
	}
	if v, ok := d.Bind("people", "id", "k").([]byte); !ok || string(v) != "k" {
		t.Errorf("Bind of a binary key column = %#v, want bytes", d.Bind("people", "id", "k"))
	}
	if v := d.Bind("people", "name", "k"); v != "k" {
		t.Errorf("Bind of a text column = %#v, want the text", v)
	}
}
