package mysql_test

import (
	"context"
	"testing"

	"github.com/jetsync/jetsync/connectors/conformance"
	"github.com/jetsync/jetsync/connectors/mysql"
	"github.com/jetsync/jetsync/infra/testenv"
)

// BenchmarkWrite is the connector's write throughput in batches of 500
// (persons-like rows with sequence guards, as the table function writes
// them, over 20,000 keys):
//
//	go test -run '^$' -bench Write -benchtime 200x ./connectors/mysql/
func BenchmarkWrite(b *testing.B) {
	db := testenv.MySQL(b)
	s, err := mysql.Open(context.Background(), config(testenv.MySQLAddr()), testenv.QuietLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	table := testenv.Name("bench")
	testenv.Exec(b, db, "CREATE TABLE "+table+" (person_id VARCHAR(255) PRIMARY KEY, first VARCHAR(255), last VARCHAR(255), age INT) DEFAULT CHARSET=utf8mb4")
	b.Cleanup(func() { db.Exec("DROP TABLE " + table) })
	conformance.BenchWrite(b, s, table)
}
