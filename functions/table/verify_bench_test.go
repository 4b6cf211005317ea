package table

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jetsync/jetsync/infra/testenv"
)

// BenchmarkVerify1M verifies a table of 1,000,000 rows against 1,000,000
// keys in Redis (MariaDB, 3 mapped columns, equal: nothing to recheck), in
// this process (rows/s, peak heap) and as the built jetsync-table binary
// (its own time and peak RSS, from the kernel's rusage). It loads both
// sides first (pipelined HSETs, 1,000-row INSERTs), which takes a minute:
//
//	go test -run '^$' -bench Verify1M -benchtime 1x -timeout 30m ./functions/table/
func BenchmarkVerify1M(b *testing.B) {
	const n = 1_000_000
	w := newWorld(b)
	w.Quiet = true
	ctx := context.Background()
	prefix := testenv.Name("vbench")
	table := w.Table("persons", "person_id VARBINARY(255) PRIMARY KEY, first VARCHAR(255), last VARCHAR(255), age INT")
	b.Cleanup(func() { unlinkPrefix(w, prefix) })
	load1M(b, w, prefix, table, n)
	cfg := w.verifyConfig(w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "first_name:first,last_name:last,age:age", testenv.MySQLAddr()))
	cfg.LogConfig.Level = "warn"

	b.ResetTimer()
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := sampleHeap(&peak)
	start := time.Now()
	for range b.N {
		var progress bytes.Buffer
		r, err := verify(ctx, cfg, VerifyOptions{Examples: 5, Settle: time.Second}, &progress, w.Logger(), verifyHooks{})
		if err != nil {
			b.Fatal(err)
		}
		if r.Keys != n || r.Rows != n || r.Total() != 0 {
			b.Fatalf("verify: %s", r.Summary())
		}
	}
	elapsed := time.Since(start) / time.Duration(b.N)
	stop()
	b.StopTimer()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(peak.Load()-min(peak.Load(), base.HeapInuse))/(1<<20), "heap-above-start-MiB")

	// The same as a process of its own: what an operator runs.
	bin := testenv.Build(b, "./cmd/jetsync-table")
	cmd := exec.Command(bin, "verify")
	cmd.Env = append(os.Environ(), "JETSYNC_FUNCTION_NAME="+cfg.Name, "JETSYNC_PREFIX="+prefix, "JETSYNC_TABLE="+table,
		"JETSYNC_KEY_COLUMN=person_id", "JETSYNC_MAPPINGS="+cfg.Mappings, "JETSYNC_MYSQL_ADDR="+testenv.MySQLAddr(),
		"JETSYNC_REDIS_ADDR="+testenv.RedisAddr(), "JETSYNC_NATS_URL="+w.NATSURL, "JETSYNC_STREAM="+w.Stream, "JETSYNC_LOG_LEVEL=warn")
	began := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(began)
	if err != nil {
		b.Fatalf("jetsync-table verify: %v\n%s", err, out)
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
	b.ReportMetric(took.Seconds(), "binary-s")
	b.ReportMetric(float64(rss)/1024, "binary-peak-RSS-MiB")
	b.Logf("jetsync-table verify of %d keys and rows: %s, peak RSS %.1f MiB; in-process %s, peak heap %.1f MiB\n%s",
		n, took.Round(100*time.Millisecond), float64(rss)/1024, elapsed.Round(100*time.Millisecond), float64(peak.Load())/(1<<20), lastLine(out))
}

// load1M writes n hashes into Redis and the same n rows into table.
func load1M(b *testing.B, w *world, prefix, table string, n int) {
	ctx := context.Background()
	started := time.Now()
	pipe := w.Redis.Pipeline()
	var sqlText strings.Builder
	args := make([]any, 0, 4000)
	flush := func() {
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
		if len(args) > 0 {
			if _, err := w.DB.Exec("INSERT INTO "+table+" (person_id, first, last, age) VALUES "+strings.TrimSuffix(sqlText.String(), ","), args...); err != nil {
				b.Fatal(err)
			}
		}
		sqlText.Reset()
		args = args[:0]
	}
	for i := range n {
		id, age := strconv.Itoa(i), strconv.Itoa(i%100)
		pipe.HSet(ctx, prefix+":"+id, "first_name", "Marek"+id, "last_name", "Michalski", "age", age)
		sqlText.WriteString("(?,?,?,?),")
		args = append(args, id, "Marek"+id, "Michalski", age)
		if pipe.Len() == 1000 {
			flush()
		}
	}
	flush()
	b.Logf("loaded %d keys and rows in %s", n, time.Since(started).Round(time.Second))
}

// unlinkPrefix removes every key of prefix, pipelined.
func unlinkPrefix(w *world, prefix string) {
	ctx := context.Background()
	iter := w.Redis.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	pipe := w.Redis.Pipeline()
	for iter.Next(ctx) {
		pipe.Unlink(ctx, iter.Val())
		if pipe.Len() == 1000 {
			pipe.Exec(ctx)
		}
	}
	pipe.Exec(ctx)
}

// sampleHeap records the highest heap in use, sampled every 20 ms, until
// stop is called.
func sampleHeap(peak *atomic.Uint64) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak.Store(max(peak.Load(), ms.HeapInuse))
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// lastLine is the last non-empty line of out.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return fmt.Sprint(lines[len(lines)-1])
}
