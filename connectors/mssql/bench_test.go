package mssql_test

import (
	"context"
	"os"
	"testing"

	"github.com/jetsync/jetsync/connectors/conformance"
	"github.com/jetsync/jetsync/connectors/mssql"
	"github.com/jetsync/jetsync/infra/testenv"
)

// BenchmarkWrite is the connector's write throughput in batches of 500
// against the SQL Server of JETSYNC_TEST_MSSQL_DSN:
//
//	go test -run '^$' -bench Write -benchtime 200x ./connectors/mssql/
func BenchmarkWrite(b *testing.B) {
	dsn := os.Getenv("JETSYNC_TEST_MSSQL_DSN")
	if dsn == "" {
		b.Skip("set JETSYNC_TEST_MSSQL_DSN=sqlserver://user:password@host:port?database=test to measure SQL Server writes")
	}
	s, err := mssql.Open(context.Background(), configFromDSN(b, dsn), testenv.QuietLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	table := testenv.Name("bench")
	testenv.Exec(b, s.DB(), "CREATE TABLE "+table+" (person_id NVARCHAR(255) PRIMARY KEY, first NVARCHAR(255), last NVARCHAR(255), age INT)")
	b.Cleanup(func() { s.DB().Exec("DROP TABLE " + table) })
	conformance.BenchWrite(b, s, table)
}
