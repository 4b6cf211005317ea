package mysql_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/jetsync/jetsync/connectors/mysql"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/harness"
	"github.com/jetsync/jetsync/infra/testenv"
)

// BenchmarkContention: two functions, two instances each, backfill new keys
// into their tables from empty at the same moment (each instance writes
// every other batch of 500 of its function's keys), under each isolation
// level. It reports InnoDB's deadlock count over the run, which must be 0,
// and checks every row:
//
//	go test -run '^$' -bench Contention -benchtime 1x ./connectors/mysql/
//
// JETSYNC_BENCH_KEYS sets the keys per function (default 200,000).
func BenchmarkContention(b *testing.B) {
	keys := 200000
	if v, err := strconv.Atoi(envOr("JETSYNC_BENCH_KEYS", "")); err == nil && v > 0 {
		keys = v
	}
	for _, iso := range []string{"repeatable-read", "read-committed"} {
		b.Run(iso, func(b *testing.B) {
			for range b.N {
				contention(b, iso, keys)
			}
		})
	}
}

func contention(b *testing.B, iso string, keys int) {
	db := testenv.MySQL(b)
	ctx := context.Background()
	const batch, functions, instances = 500, 2, 2
	type fn struct{ name, table string }
	var fns []fn
	for i := range functions {
		f := fn{testenv.Name(fmt.Sprintf("f%d", i)), testenv.Name(fmt.Sprintf("t%d", i))}
		testenv.Exec(b, db, "CREATE TABLE "+f.table+" (id VARCHAR(64) COLLATE utf8mb4_bin PRIMARY KEY, v VARCHAR(64)) DEFAULT CHARSET=utf8mb4")
		b.Cleanup(func() { db.Exec("DROP TABLE " + f.table) })
		fns = append(fns, f)
	}
	deadlocks := func() int {
		var name string
		var n int
		if err := db.QueryRow("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'").Scan(&name, &n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	before := deadlocks()
	var wg sync.WaitGroup
	var mu sync.Mutex
	retried := map[string]int{}
	start := time.Now()
	for fi, f := range fns {
		for inst := range instances {
			cfg := config(testenv.MySQLAddr())
			cfg.Isolation, cfg.MaxConns = iso, 1
			s, err := mysql.Open(ctx, cfg, testenv.QuietLogger(b))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Forget(context.Background(), f.name); s.Close() })
			wg.Go(func() {
				for first := inst * batch; first < keys; first += instances * batch {
					w := handlers.Write{Function: f.name}
					for k := first; k < min(first+batch, keys); k++ {
						id := strconv.Itoa(k)
						w.Ops = append(w.Ops, handlers.Op{Table: f.table, Key: []handlers.Column{{Name: "id", Value: id}},
							Values: []handlers.Column{{Name: "v", Value: "v" + id}}})
						w.Changes = append(w.Changes, handlers.KeySeq{Key: "p:" + id, Seq: uint64(fi*keys + k + 1)})
					}
					for {
						err := s.Write(ctx, w)
						if err == nil {
							break
						}
						var me *driver.MySQLError
						if !errors.As(err, &me) || handlers.IsPermanent(err) {
							b.Error(err)
							return
						}
						mu.Lock()
						retried[fmt.Sprintf("%d %s", me.Number, me.Message)]++
						mu.Unlock()
					}
				}
			})
		}
	}
	wg.Wait()
	took := time.Since(start)
	n := deadlocks() - before
	for _, f := range fns {
		var rows, right int
		if err := db.QueryRow("SELECT COUNT(*), SUM(v = CONCAT('v', id)) FROM "+f.table).Scan(&rows, &right); err != nil {
			b.Fatal(err)
		}
		if rows != keys || right != keys {
			b.Errorf("%s: %d rows, %d right; want %d", f.table, rows, right, keys)
		}
	}
	b.ReportMetric(float64(n), "deadlocks")
	b.ReportMetric(float64(functions*keys)/took.Seconds(), "changes/s")
	if n > 0 || len(retried) > 0 {
		b.Errorf("%d InnoDB deadlocks; writes retried: %v", n, retried)
	}
}

// BenchmarkGuardCost is what the sequence guard costs the database: the
// same batches of 500 upserts over 20,000 existing keys, and of new keys,
// written with and without guards; it reports rows/s and mariadbd's CPU
// per row (when mariadbd runs on this machine). The guard's entries are
// keyed by a hash, so they are touched in random order whatever the keys;
// the scattered cases touch the table's rows in random order too (a
// batch's keys spread over the key space, as real traffic's are), the
// others in key order. Every batch changes every row (its age): an upsert
// that changes nothing writes nothing, which once made the plain case
// look three times cheaper than a row write is:
//
//	go test -run '^$' -bench GuardCost -benchtime 200x ./connectors/mysql/
func BenchmarkGuardCost(b *testing.B) {
	for _, tc := range []struct {
		name             string
		guarded, rowless bool
		fresh, scattered bool
	}{{"plain/updates", false, false, false, false}, {"guarded/updates", true, false, false, false}, {"guard-only/updates", true, true, false, false},
		{"plain/new-keys", false, false, true, false}, {"guarded/new-keys", true, false, true, false},
		{"plain/scattered-updates", false, false, false, true}, {"guarded/scattered-updates", true, false, false, true}} {
		b.Run(tc.name, func(b *testing.B) {
			db := testenv.MySQL(b)
			ctx := context.Background()
			s, err := mysql.Open(ctx, config(testenv.MySQLAddr()), testenv.QuietLogger(b))
			if err != nil {
				b.Fatal(err)
			}
			table, fn := testenv.Name("cost"), testenv.Name("cost")
			testenv.Exec(b, db, "CREATE TABLE "+table+" (person_id VARCHAR(255) COLLATE utf8mb4_bin PRIMARY KEY, first VARCHAR(255), last VARCHAR(255), age INT) DEFAULT CHARSET=utf8mb4")
			b.Cleanup(func() { db.Exec("DROP TABLE " + table); s.Forget(context.Background(), fn); s.Close() })
			const batch, keys = 500, 20000
			write := func(i int, seq uint64) {
				w := handlers.Write{Ops: make([]handlers.Op, batch)}
				if tc.guarded {
					w.Function, w.Changes = fn, make([]handlers.KeySeq, batch)
				}
				for j := range batch {
					k := (i*batch + j) % keys
					if tc.scattered {
						k = (i*batch + j) * 7919 % keys // 7919 is prime to 20,000: a permutation
					}
					if tc.fresh {
						k = i*batch + j
					}
					id := strconv.Itoa(k)
					w.Ops[j] = handlers.Op{Table: table, Key: []handlers.Column{{Name: "person_id", Value: id}}, Values: []handlers.Column{
						{Name: "first", Value: "Marek" + id}, {Name: "last", Value: "Michalski"}, {Name: "age", Value: strconv.Itoa(int(seq/batch) % 100)}}}
					if tc.guarded {
						w.Changes[j] = handlers.KeySeq{Key: "p:" + id, Seq: seq + uint64(j)}
					}
				}
				if tc.rowless && seq > keys { // the guards alone, once the rows exist
					w.Ops = nil
				}
				if err := s.Write(ctx, w); err != nil {
					b.Fatal(err)
				}
			}
			if !tc.fresh { // the keys exist, guards included
				for i := range keys / batch {
					write(i, uint64(1+i*batch))
				}
			}
			pid := harness.FindProcess("mariadbd", "")
			cpu0 := cpuOf(pid)
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				write(i, uint64(keys+1+i*batch))
			}
			took := time.Since(start)
			b.ReportMetric(float64(b.N*batch)/took.Seconds(), "rows/s")
			if pid > 0 {
				b.ReportMetric((cpuOf(pid)-cpu0)*1e6/float64(b.N*batch), "mariadbd-µs/row")
			}
		})
	}
}

func cpuOf(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	st, err := harness.ReadStats(pid)
	if err != nil {
		return 0
	}
	return st.CPUSeconds
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
