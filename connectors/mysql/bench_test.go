package mysql_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jetsync/jetsync/connectors/mysql"
	"github.com/jetsync/jetsync/handlers"
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
	fn := testenv.Name("bench")
	b.Cleanup(func() { s.Forget(context.Background(), fn) })
	ctx := context.Background()
	const batch, keys = 500, 20000
	var seq uint64
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		w := handlers.Write{Function: fn, Ops: make([]handlers.Op, batch), Changes: make([]handlers.KeySeq, batch)}
		for j := range batch {
			seq++
			id := strconv.Itoa((i*batch + j) % keys)
			w.Ops[j] = handlers.Op{Table: table, Key: []handlers.Column{{Name: "person_id", Value: id}}, Values: []handlers.Column{
				{Name: "first", Value: "Marek" + id}, {Name: "last", Value: "Michalski"}, {Name: "age", Value: strconv.Itoa(j % 100)}}}
			w.Changes[j] = handlers.KeySeq{Key: "bench:" + id, Seq: seq}
		}
		if err := s.Write(ctx, w); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "rows/s")
}
