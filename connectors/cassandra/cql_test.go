package cassandra

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gocql/gocql"

	"github.com/jetsync/jetsync/handlers"
)

func col(name string, v any) handlers.Column { return handlers.Column{Name: name, Value: v} }

func TestStatement(t *testing.T) {
	tests := []struct {
		name string
		op   handlers.Op
		cql  string
		args string
	}{
		{"upsert", handlers.Op{Table: "persons", Key: []handlers.Column{col("person_id", "5")}, Values: []handlers.Column{col("first", "Marek"), col("age", nil)}},
			`INSERT INTO "persons" ("person_id", "first", "age") VALUES (?, ?, ?) USING TIMESTAMP ?`, "[5 Marek <nil> 7]"},
		{"key only", handlers.Op{Table: "t", Key: []handlers.Column{col("id", "1")}},
			`INSERT INTO "t" ("id") VALUES (?) USING TIMESTAMP ?`, "[1 7]"},
		{"delete", handlers.Op{Delete: true, Table: "persons", Key: []handlers.Column{col("person_id", "5")}},
			`DELETE FROM "persons" USING TIMESTAMP ? WHERE "person_id" = ?`, "[7 5]"},
		{"composite key delete", handlers.Op{Delete: true, Table: "t", Key: []handlers.Column{col("a", "1"), col("b", "2")}},
			`DELETE FROM "t" USING TIMESTAMP ? WHERE "a" = ? AND "b" = ?`, "[7 1 2]"},
		{"quoted identifiers", handlers.Op{Table: `We"ird`, Key: []handlers.Column{col("Key Col", "1")}, Values: []handlers.Column{col("select", "x")}},
			`INSERT INTO "We""ird" ("Key Col", "select") VALUES (?, ?) USING TIMESTAMP ?`, "[1 x 7]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := statement(tt.op, 7)
			if st.cql != tt.cql {
				t.Errorf("\n got %s\nwant %s", st.cql, tt.cql)
			}
			if got := fmt.Sprint(st.args); got != tt.args {
				t.Errorf("args %s, want %s", got, tt.args)
			}
		})
	}
}

func TestPlanTimestampsAndPartitions(t *testing.T) {
	up := func(table, pk, ck string, v any) handlers.Op {
		return handlers.Op{Table: table, Key: []handlers.Column{col("pk", pk), col("ck", ck)}, Values: []handlers.Column{col("v", v)}}
	}
	w := handlers.Write{
		Changes: []handlers.KeySeq{{Key: "p:1", Seq: 10}, {Key: "p:2", Seq: 20}, {Key: "p:3", Seq: 30}},
		Ops: []handlers.Op{
			up("t", "1", "a", "x"),
			up("t", "2", "a", "y"),
			up("t", "1", "b", "z"), // same partition as the first
			{Delete: true, Table: "t", Key: []handlers.Column{col("pk", "1"), col("ck", "a")}},
			up("t", "1", "a", "again"), // same row: later ops get later timestamps
			up("u", "1", "a", "other table"),
		},
	}
	parts := func(table string) []string { return []string{"pk"} }
	got := plan(w, parts, 100)
	var lines []string
	for _, b := range got {
		var ts []string
		for _, st := range b.stmts {
			ts = append(ts, fmt.Sprint(st.ts))
		}
		lines = append(lines, b.table+":"+strings.Join(ts, ","))
	}
	// pk 1 of t: rows (1,a) at 10*1024+0, (1,b) at 10*1024, delete of (1,a) at +1, (1,a) again at +2.
	want := "t:10240,10240,10241,10242 t:20480 u:10240"
	if strings.Join(lines, " ") != want {
		t.Fatalf("batches %q, want %q", strings.Join(lines, " "), want)
	}
	// Without partition metadata every row is its own partition.
	if n := len(plan(w, func(string) []string { return nil }, 100)); n != 4 {
		t.Fatalf("%d batches without metadata, want 4 (rows (t,1,a), (t,2,a), (t,1,b), (u,1,a))", n)
	}
}

func TestPlanSplitsBatches(t *testing.T) {
	var w handlers.Write
	for i := range 250 {
		w.Ops = append(w.Ops, handlers.Op{Table: "t", Key: []handlers.Column{col("pk", "p"), col("ck", fmt.Sprint(i))}, Values: []handlers.Column{col("v", "x")}})
	}
	w.Changes = []handlers.KeySeq{{Key: "p:p", Seq: 1}}
	sizes := func(bs []batch) string {
		var s []string
		for _, b := range bs {
			s = append(s, fmt.Sprint(len(b.stmts)))
		}
		return strings.Join(s, ",")
	}
	parts := func(string) []string { return []string{"pk"} }
	if got := sizes(plan(w, parts, 100)); got != "100,100,50" {
		t.Fatalf("batches of %s statements, want 100,100,50", got)
	}
	// 1 MiB values: each alone; 30 KiB values: one per batch under 40 KiB.
	big := strings.Repeat("x", 1<<20)
	mid := strings.Repeat("y", 30<<10)
	w.Ops = []handlers.Op{
		{Table: "t", Key: []handlers.Column{col("pk", "p"), col("ck", "1")}, Values: []handlers.Column{col("v", big)}},
		{Table: "t", Key: []handlers.Column{col("pk", "p"), col("ck", "2")}, Values: []handlers.Column{col("v", big)}},
		{Table: "t", Key: []handlers.Column{col("pk", "p"), col("ck", "3")}, Values: []handlers.Column{col("v", mid)}},
		{Table: "t", Key: []handlers.Column{col("pk", "p"), col("ck", "4")}, Values: []handlers.Column{col("v", "small")}},
		{Table: "t", Key: []handlers.Column{col("pk", "p"), col("ck", "5")}, Values: []handlers.Column{col("v", mid)}},
	}
	if got := sizes(plan(w, parts, 100)); got != "1,1,2,1" {
		t.Fatalf("batches of %s statements, want 1,1,2,1", got)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		permanent bool
	}{
		{"wrong type", gocql.MarshalError("can not marshal string into int"), true},
		{"invalid data", requestErr{gocql.ErrCodeInvalid, "Key may not be empty"}, true},
		{"unknown table", requestErr{gocql.ErrCodeInvalid, "unconfigured table persons"}, false},
		{"unknown column", requestErr{gocql.ErrCodeInvalid, "Undefined column name age"}, false},
		{"write timeout", requestErr{gocql.ErrCodeWriteTimeout, "timeout"}, false},
		{"unavailable", requestErr{gocql.ErrCodeUnavailable, "not enough replicas"}, false},
		{"overloaded", requestErr{gocql.ErrCodeOverloaded, "overloaded"}, false},
		{"no connections", gocql.ErrNoConnections, false},
		{"unknown", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := handlers.IsPermanent(classify(fmt.Errorf("write: %w", tt.err))); got != tt.permanent {
				t.Fatalf("permanent = %v, want %v", got, tt.permanent)
			}
		})
	}
	perm, trans := handlers.Permanent(errors.New("bad")), errors.New("timeout")
	if err := combine([]error{nil, perm, trans}); err == nil || handlers.IsPermanent(err) {
		t.Fatalf("permanent and transient: %v, want transient", err)
	}
	if err := combine([]error{perm, nil, perm}); !handlers.IsPermanent(err) {
		t.Fatalf("only permanent: %v, want permanent", err)
	}
	if err := combine([]error{nil, nil}); err != nil {
		t.Fatal(err)
	}
}

type requestErr struct {
	code int
	msg  string
}

func (e requestErr) Code() int       { return e.code }
func (e requestErr) Message() string { return e.msg }
func (e requestErr) Error() string   { return e.msg }

func TestConfigValidate(t *testing.T) {
	ok := Config{Hosts: "a:9042, b", Keyspace: "ks", Consistency: "LOCAL_QUORUM", Timeout: 1, MaxBatch: 1, Concurrency: 1}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(ok.hosts()); got != "[a:9042 b]" {
		t.Fatalf("hosts %s", got)
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no hosts", func(c *Config) { c.Hosts = " , " }, "JETSYNC_CASSANDRA_HOSTS"},
		{"consistency", func(c *Config) { c.Consistency = "MOST" }, "JETSYNC_CASSANDRA_CONSISTENCY"},
		{"cert without key", func(c *Config) { c.TLS, c.TlsCertFile = true, "c.pem" }, "JETSYNC_CASSANDRA_TLS_KEY_FILE"},
		{"tls files without tls", func(c *Config) { c.TlsCaFile = "ca.pem" }, "JETSYNC_CASSANDRA_TLS is not true"},
		{"password without user", func(c *Config) { c.Password = "x" }, "JETSYNC_CASSANDRA_USERNAME"},
		{"both passwords", func(c *Config) { c.Username, c.Password, c.PasswordFile = "u", "x", "/f" }, "JETSYNC_CASSANDRA_PASSWORD_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want it to name %s", err, tt.want)
			}
		})
	}
}
