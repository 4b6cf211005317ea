package table

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/infra/testenv"
)

// TestSeedLifecycle follows one person through HSET, update, HDEL and DEL.
func TestSeedLifecycle(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	prefix, table := w.Prefix("person"), w.personsTable()
	w.StartBridge(prefix)
	w.startFunction(w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "first_name:first,last_name:last,age:age", testenv.MySQLAddr()))
	key := prefix + ":5"

	check := func(step string, want func(p person, ok bool) error) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, func() error {
			p, ok, err := w.person(table, "5")
			if err != nil {
				return err
			}
			if err := want(p, ok); err != nil {
				return fmt.Errorf("%s: %w", step, err)
			}
			return nil
		})
	}

	w.Redis.HSet(ctx, key, "first_name", "Marek", "last_name", "Michalski", "age", "27", "unmapped", "x")
	check("HSET", func(p person, ok bool) error {
		if !ok || p.first.String != "Marek" || p.last.String != "Michalski" || p.age.Int64 != 27 {
			return fmt.Errorf("row %+v (present %v)", p, ok)
		}
		return nil
	})
	// A column the mapping does not name keeps what the database holds.
	testenv.Exec(t, w.DB, fmt.Sprintf("UPDATE %s SET note = 'kept' WHERE person_id = '5'", table))

	w.Redis.HSet(ctx, key, "age", "28")
	check("update", func(p person, ok bool) error {
		if !ok || p.age.Int64 != 28 || p.first.String != "Marek" || p.note.String != "kept" {
			return fmt.Errorf("row %+v", p)
		}
		return nil
	})

	w.Redis.HDel(ctx, key, "last_name")
	check("HDEL", func(p person, ok bool) error {
		if !ok || p.last.Valid || p.first.String != "Marek" || p.note.String != "kept" {
			return fmt.Errorf("row %+v, want last NULL and note kept", p)
		}
		return nil
	})

	w.Redis.Del(ctx, key)
	check("DEL", func(_ person, ok bool) error {
		if ok {
			return fmt.Errorf("row still there")
		}
		return nil
	})
}

// TestExpiryKeepsRow: an expired cache key is not a deletion of the data.
// It runs on a redis-server of its own that publishes every event class
// ("KEA": expired events too, as a shared server may), so the bridge does
// hear the expiry and must not turn it into a delete. The control sets
// JETSYNC_ON_EXPIRED=delete and must see the row go.
func TestExpiryKeepsRow(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "kept", "on expiry delete", func(t *testing.T, control bool) {
		w := newWorld(t)
		ctx := context.Background()
		addr := testenv.RedisServer(t, "--notify-keyspace-events", "KEA")
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { rdb.Close() })
		prefix, table := w.Prefix("person"), w.personsTable()
		cfg := w.BridgeConfig(prefix)
		cfg.Redis.Addr = addr
		if control {
			cfg.OnExpired = "delete"
		}
		w.StartBridgeWith(cfg)
		w.startFunction(w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "age:age", testenv.MySQLAddr()))

		rdb.HSet(ctx, prefix+":1", "age", "1")
		w.waitRows(table, map[string]int{"1": 1}, 10*time.Second)
		rdb.PExpire(ctx, prefix+":1", 100*time.Millisecond)
		testenv.Eventually(t, 5*time.Second, func() error {
			if n := rdb.Exists(ctx, prefix+":1").Val(); n != 0 {
				return fmt.Errorf("key not expired yet")
			}
			return nil
		})
		// A later change of another key proves the pipeline moved past the expiry.
		rdb.HSet(ctx, prefix+":2", "age", "2")
		want := map[string]int{"1": 1, "2": 2}
		if control {
			want = map[string]int{"2": 2}
		}
		w.waitRows(table, want, 10*time.Second)
		if control {
			testenv.Eventually(t, 10*time.Second, func() error {
				if n := w.Count(table); n != 1 {
					return fmt.Errorf("control: %d rows, want the expired key's row deleted", n)
				}
				return nil
			})
		}
	})
}

// TestPersonsAndCars runs the seed's two mappings side by side on one stream.
func TestPersonsAndCars(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	pp, cp := w.Prefix("person"), w.Prefix("car")
	persons := w.personsTable()
	cars := w.Table("cars", "car_id VARBINARY(255) PRIMARY KEY, id VARCHAR(255), color VARCHAR(255)")

	w.StartBridge(pp, cp)
	w.startFunction(w.tableConfig(testenv.Name("persons"), pp, persons, "person_id", "first_name:first,last_name:last,age:age", testenv.MySQLAddr()))
	w.startFunction(w.tableConfig(testenv.Name("cars"), cp, cars, "car_id", "id:id,color:color", testenv.MySQLAddr()))

	for i := range 50 {
		w.Redis.HSet(ctx, fmt.Sprintf("%s:%d", pp, i), "first_name", "P", "age", strconv.Itoa(i))
		w.Redis.HSet(ctx, fmt.Sprintf("%s:%d", cp, i), "id", fmt.Sprintf("WX%03d", i), "color", "red")
	}
	want := map[string]int{}
	for i := range 50 {
		want[strconv.Itoa(i)] = i
	}
	w.waitRows(persons, want, 15*time.Second)
	testenv.Eventually(t, 15*time.Second, func() error {
		var n int
		if err := w.DB.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE color = 'red' AND id LIKE 'WX%%'", cars)).Scan(&n); err != nil {
			return err
		}
		if n != 50 {
			return fmt.Errorf("%d cars, want 50", n)
		}
		return nil
	})
	// Each function has its own consumer; nothing crossed over.
	if n := w.Count(persons); n != 50 {
		t.Fatalf("persons has %d rows, want 50", n)
	}
}

// TestResyncAfterBridgeRestart: writes made while no bridge runs reach the
// table once a bridge starts.
func TestResyncAfterBridgeRestart(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	prefix, table := w.Prefix("person"), w.personsTable()
	stop := w.StartBridge(prefix)
	w.startFunction(w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "age:age", testenv.MySQLAddr()))
	w.Redis.HSet(ctx, prefix+":warmup", "age", "0")
	w.waitRows(table, map[string]int{"warmup": 0}, 10*time.Second)
	stop()

	want := map[string]int{"warmup": 0}
	pipe := w.Redis.Pipeline()
	for i := range 1000 {
		id := fmt.Sprintf("k%d", i%700) // some keys written twice: the last value must win
		pipe.HSet(ctx, prefix+":"+id, "age", strconv.Itoa(i))
		want[id] = i
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := w.Count(table); n != 1 {
		t.Fatalf("with the bridge stopped the table has %d rows, want 1", n)
	}
	w.StartBridge(prefix)
	w.waitRows(table, want, 30*time.Second)
}

// TestDatabaseOutage: MariaDB unreachable for 10 s pauses the function;
// it keeps its messages in progress (no redelivery although the outage is
// five times the ack wait) and catches up alone.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	w, ctx := newWorld(t), context.Background()
	prefix, table, proxy, cfg, get := w.functionBehindProxy(2 * time.Second)
	if code, body := get("/readyz"); code != 200 {
		t.Fatalf("/readyz before the outage: %d %s", code, body)
	}

	proxy.Cut()
	want := map[string]int{"before": 1}
	for i := range 200 {
		w.Redis.HSet(ctx, fmt.Sprintf("%s:%d", prefix, i), "age", strconv.Itoa(i))
		want[strconv.Itoa(i)] = i
	}
	held := false
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		info, err := w.consumerInfo(cfg.Name)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumRedelivered > 0 {
			t.Fatalf("JetStream redelivered %d messages during the outage: the ack deadline was not kept alive", info.NumRedelivered)
		}
		held = held || info.NumAckPending > 0
	}
	if !held {
		t.Fatal("the function held no messages during the outage")
	}
	if n := w.Count(table); n != 1 {
		t.Fatalf("during the outage the table has %d rows, want 1", n)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "writes to the target are failing") {
		t.Fatalf("/readyz during the outage: %d %s", code, body)
	}
	if _, body := get("/metrics"); !strings.Contains(body, `jetsync_function_degraded{function="`+cfg.Name+`"} 1`) {
		t.Fatalf("/metrics during the outage does not show the function degraded:\n%s", body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz during the outage: %d; a degraded function is still alive", code)
	}
	proxy.Restore()
	w.waitRows(table, want, 40*time.Second)
	testenv.Eventually(t, 5*time.Second, func() error {
		if code, body := get("/readyz"); code != 200 {
			return fmt.Errorf("/readyz after the outage: %d %s", code, body)
		}
		return nil
	})
	// Every change was applied once, or found already applied when a commit
	// whose reply the cut lost is retried (the guard at work). The counters
	// move just after the commit that made the rows visible: waited for.
	testenv.Eventually(t, 5*time.Second, func() error {
		_, body := get("/metrics")
		if !strings.Contains(body, `jetsync_function_degraded{function="`+cfg.Name+`"} 0`) {
			return fmt.Errorf("/metrics does not show the function recovered")
		}
		applied := testenv.MetricValue(body, `jetsync_function_changes_total{function="`+cfg.Name+`",result="applied"}`)
		stale := testenv.MetricValue(body, `jetsync_function_changes_total{function="`+cfg.Name+`",result="stale"}`)
		timed := testenv.MetricValue(body, `jetsync_function_end_to_end_seconds_count{function="`+cfg.Name+`"}`)
		if applied+stale < 201 || timed != applied {
			return fmt.Errorf("applied %v + stale %v, want at least 201; end-to-end timings %v, want one per applied change", applied, stale, timed)
		}
		return nil
	})
}

// TestBadConfigStops: a configuration that cannot work stops the function at
// start with a message naming the problem.
func TestBadConfigStops(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	table := w.personsTable()
	folding := w.Table("persons", "person_id VARCHAR(255) PRIMARY KEY, first VARCHAR(255), last VARCHAR(255), age INT") // utf8mb4_general_ci
	tests := []struct {
		name, table, key, mappings string
		want                       []string
	}{
		{"key column folds case", folding, "person_id", "age:age", []string{`key column "person_id"`, "utf8mb4_general_ci", "VARBINARY", "JETSYNC_KEY_COLLATION=any"}},
		{"missing table", "no_such_table_x", "person_id", "age:age", []string{`table "no_such_table_x" does not exist`}},
		{"unknown column", table, "person_id", "first_name:frist,age:age", []string{"has no column frist"}},
		{"unknown key column", table, "id", "age:age", []string{"has no column id"}},
		{"key not unique", table, "first", "age:age", []string{"not its primary key or a unique key"}},
		{"bad mapping syntax", table, "person_id", "first_name:first,,age", []string{"JETSYNC_MAPPINGS", "entry 2 is empty"}},
		{"mapping without column", table, "person_id", "first_name:", []string{"JETSYNC_MAPPINGS", "no column after ':'"}},
		{"mapping onto the key", table, "person_id", "id:person_id", []string{"key column"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := w.tableConfig(testenv.Name("persons"), "person", tt.table, tt.key, tt.mappings, testenv.MySQLAddr())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := Run(ctx, cfg, testenv.Logger(t))
			if err == nil || ctx.Err() != nil {
				t.Fatalf("run returned %v (context %v); want a configuration error", err, ctx.Err())
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}

// TestKeyCollationAny: JETSYNC_KEY_COLLATION=any accepts a key column that
// folds case (the operator's choice), and the function starts.
func TestKeyCollationAny(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	folding := w.Table("persons", "person_id VARCHAR(255) PRIMARY KEY, first VARCHAR(255), last VARCHAR(255), age INT")
	cfg := w.tableConfig(testenv.Name("persons"), "person", folding, "person_id", "age:age", testenv.MySQLAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, collation := range []string{"exact", "any"} {
		cfg.KeyCollation = collation
		_, open, err := Build(cfg)
		if err != nil {
			t.Fatal(err)
		}
		sink, err := open(ctx, testenv.Logger(t))
		switch {
		case collation == "exact" && err == nil:
			sink.Close()
			t.Fatal("exact: the folding key column was accepted")
		case collation == "any" && err != nil:
			t.Fatalf("any: %v", err)
		case err == nil:
			sink.Close()
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBlackholedDatabase: MariaDB's connection stops forwarding without
// closing (a partition that drops packets). Each write gives up after 2/3
// of the ack wait and is retried, so the function reports itself degraded
// within seconds instead of hanging silently with /readyz 200, and catches
// up alone when the network heals.
func TestBlackholedDatabase(t *testing.T) {
	t.Parallel()
	w, ctx := newWorld(t), context.Background()
	prefix, table, proxy, cfg, get := w.functionBehindProxy(3 * time.Second)

	proxy.Blackhole()
	want := map[string]int{"before": 1}
	for i := range 50 {
		w.Redis.HSet(ctx, fmt.Sprintf("%s:%d", prefix, i), "age", strconv.Itoa(i))
		want[strconv.Itoa(i)] = i
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if code, body := get("/readyz"); code != 503 {
			return fmt.Errorf("/readyz while the database is black-holed: %d %s", code, body)
		}
		return nil
	})
	time.Sleep(2 * cfg.AckWait) // attempts time out and are retried meanwhile
	proxy.Heal()
	w.waitRows(table, want, 40*time.Second)
	testenv.Eventually(t, 10*time.Second, func() error {
		if code, body := get("/readyz"); code != 200 {
			return fmt.Errorf("/readyz after the black-hole: %d %s", code, body)
		}
		return nil
	})
}

// functionBehindProxy starts a bridge and a persons function that reaches
// MariaDB through a proxy the test owns, with ackWait, and waits for a first
// row. get reads the function's HTTP endpoints.
func (w *world) functionBehindProxy(ackWait time.Duration) (prefix, table string, proxy *testenv.Proxy, cfg Config, get func(path string) (int, string)) {
	t := w.T
	t.Helper()
	prefix, table = w.Prefix("person"), w.personsTable()
	proxy = testenv.NewProxy(t, testenv.MySQLAddr())
	w.StartBridge(prefix)
	cfg = w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "age:age", proxy.Addr)
	cfg.AckWait = ackWait
	cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	w.startFunction(cfg)
	w.Redis.HSet(context.Background(), prefix+":before", "age", "1")
	w.waitRows(table, map[string]int{"before": 1}, 10*time.Second)
	return prefix, table, proxy, cfg, func(path string) (int, string) { return testenv.HTTPGet("http://" + cfg.HTTPAddr + path) }
}
