package table

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/infra/testenv"
)

// BenchmarkEndToEnd measures changes per second from the first HSET to the
// last row committed and acked: b.N distinct keys (3 fields each) are written
// with a pipelined loader while the bridge and one table function run
// in-process against Redis, an embedded nats-server and MariaDB.
//
//	go test -run '^$' -bench EndToEnd -benchtime 20000x ./functions/table/
func BenchmarkEndToEnd(b *testing.B) {
	w := newWorld(b)
	w.Quiet = true
	ctx := context.Background()
	prefix := w.Prefix("bench")
	table := w.Table("persons", "person_id VARBINARY(255) PRIMARY KEY, first VARCHAR(255), last VARCHAR(255), age INT")
	w.StartBridge(prefix)
	cfg := w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "first_name:first,last_name:last,age:age", testenv.MySQLAddr())
	cfg.BatchSize = 500
	w.startFunction(cfg)

	nc, err := nats.Connect(w.NATSURL)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	time.Sleep(500 * time.Millisecond) // bridge subscribed, consumer created

	b.ResetTimer()
	start := time.Now()
	pipe := w.Redis.Pipeline()
	for i := range b.N {
		pipe.HSet(ctx, prefix+":"+strconv.Itoa(i), "first_name", "Marek"+strconv.Itoa(i), "last_name", "Michalski", "age", strconv.Itoa(i%100))
		if pipe.Len() == 1000 {
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	loaded := time.Since(start)
	for {
		var n int
		if err := w.DB.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n == b.N {
			c, err := js.Consumer(ctx, w.Stream, cfg.Name)
			if err == nil {
				info, err := c.Info(ctx)
				if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
					break
				}
			}
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("only %d of %d rows after 5 minutes", n, b.N)
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "changes/s")
	b.ReportMetric(float64(b.N)/loaded.Seconds(), "loaded/s")
}
