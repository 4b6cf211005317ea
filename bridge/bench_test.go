package bridge

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/infra/testenv"
)

// BenchmarkBridge measures the bridge alone: b.N HSETs of distinct keys
// (3 fields) from a pipelined loader, to the PubAck of the last change —
// keyspace notification, MEMORY USAGE and HGETALL pipelines, asynchronous
// ordered publish — against the local Redis and an embedded nats-server;
// "ha" holds an HA lease, so every change is fenced by its epoch.
//
//	go test -run '^$' -bench Bridge -benchtime 100000x ./bridge/
func BenchmarkBridge(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchBridge(b, false) })
	b.Run("ha", func(b *testing.B) { benchBridge(b, true) })
}

func benchBridge(b *testing.B, ha bool) {
	ctx := context.Background()
	rdb := testenv.Redis(b)
	prefix := testenv.Name("bench")
	testenv.DeletePrefix(b, rdb, prefix)
	cfg := testConfig(testenv.RedisAddr(), testenv.NATS(b), prefix)
	cfg.Workers, cfg.Batch = 4, 256
	cfg.HALease, cfg.HATTL, cfg.HAGroup = ha, 5*time.Second, prefix
	br, err := New(ctx, cfg, testenv.QuietLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- br.Run(runCtx) }()
	defer func() { stop(); <-done }()
	nc, err := nats.Connect(cfg.NATS.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(ctx, cfg.StreamConfig.Name)
	if err != nil {
		b.Fatal(err)
	}
	testenv.Eventually(b, 5*time.Second, func() error {
		if !br.active.Load() {
			return errors.New("not active yet")
		}
		return br.Ready()
	})

	b.ResetTimer()
	start := time.Now()
	pipe := rdb.Pipeline()
	for i := range b.N {
		pipe.HSet(ctx, prefix+":"+strconv.Itoa(i), "first_name", "Marek", "last_name", "Michalski", "age", strconv.Itoa(i%100))
		if pipe.Len() == 1000 {
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	for {
		info, err := stream.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if int(info.State.Msgs) >= b.N {
			break
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("%d of %d changes stored after 5 minutes", info.State.Msgs, b.N)
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "changes/s")
}
