package conformance

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/testenv"
)

// BenchWrite writes b.N batches of 500 upserts into table (persons-like
// rows: person_id, first, last, age; with sequence guards, as the table
// function writes them) over 20,000 keys, so that most rows after the first
// pass are updates, and reports rows/s. The caller creates table.
func BenchWrite(b *testing.B, s handlers.Sink, table string) {
	fn := testenv.Name("bench")
	if f, ok := s.(handlers.Forgetter); ok {
		b.Cleanup(func() { f.Forget(context.Background(), fn) })
	}
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
