package table

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetsync/jetsync/bridge"
	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/connectors/postgres"
	"github.com/jetsync/jetsync/connectors/sqlite"
	"github.com/jetsync/jetsync/infra/testenv"
)

// verifyTarget is a database verify is tested against: the table
// function's configuration for prefix (a persons table: person_id, first,
// last, age, note), a pool to change the table behind its back, and the
// table's name.
type verifyTarget struct {
	name  string
	setup func(t *testing.T, w *world, prefix string) (Config, *sql.DB, string)
}

var verifyTargets = []verifyTarget{
	{"mysql", func(t *testing.T, w *world, prefix string) (Config, *sql.DB, string) {
		table := w.personsTable()
		return w.verifyConfig(w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "first_name:first,last_name:last,age:age", testenv.MySQLAddr())), w.DB, table
	}},
	{"postgres", func(t *testing.T, w *world, prefix string) (Config, *sql.DB, string) {
		db := testenv.Postgres(t)
		table := testenv.Name("persons")
		testenv.Exec(t, db, "CREATE TABLE "+table+" (person_id VARCHAR(255) PRIMARY KEY, first VARCHAR(255), last VARCHAR(255), age INT, note VARCHAR(255) DEFAULT 'untouched')")
		t.Cleanup(func() { db.Exec("DROP TABLE " + table) })
		cfg := w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "first_name:first,last_name:last,age:age", "")
		cfg.Connector, cfg.MySQL = "postgres", w.MySQLConfig("nowhere")
		cfg.Postgres = postgres.Config{Addr: testenv.PostgresAddr(), User: "postgres", Database: "test", SSLMode: "disable", MaxConns: 2, Timeout: 2 * time.Second}
		return w.verifyConfig(cfg), db, table
	}},
	{"sqlite", func(t *testing.T, w *world, prefix string) (Config, *sql.DB, string) {
		path := filepath.Join(t.TempDir(), "jetsync.db")
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		testenv.Exec(t, db, "CREATE TABLE persons (person_id TEXT PRIMARY KEY, first TEXT, last TEXT, age INTEGER, note TEXT DEFAULT 'untouched') STRICT")
		cfg := w.tableConfig(testenv.Name("persons"), prefix, "persons", "person_id", "first_name:first,last_name:last,age:age", "")
		cfg.Connector, cfg.MySQL = "sqlite", w.MySQLConfig("nowhere")
		cfg.SQLite = sqlite.Config{Path: path, BusyTimeout: 10 * time.Second, Synchronous: "normal"}
		return w.verifyConfig(cfg), db, "persons"
	}},
}

// verifyConfig is cfg reaching the test Redis, as verify needs.
func (w *world) verifyConfig(cfg Config) Config {
	cfg.Source = bridge.RedisConfig{Addr: testenv.RedisAddr()}
	cfg.ValueType = "hash"
	return cfg
}

// verifyRun runs verify in-process with flags args and hooks, and returns
// the report, its exit status and what it printed: the report, then the
// errors.
func (w *world) verifyRun(t *testing.T, cfg Config, hooks verifyHooks, args ...string) (Report, int, string) {
	t.Helper()
	opts, err := ParseVerify(append([]string{"--settle", "300ms", "--examples", "10"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	var progress bytes.Buffer
	r, err := verify(context.Background(), cfg, opts, &progress, w.Logger().With("component", "verify"), hooks)
	code := printVerify(r, err, opts, &out, &errOut)
	t.Logf("jetsync-table verify %v: exit %d\n%s%s%s", args, code, progress.String(), out.String(), errOut.String())
	return r, code, out.String() + errOut.String()
}

// exampleKeys lists the report's examples as "kind key" lines.
func exampleKeys(r Report) []string {
	var out []string
	for _, k := range change.Kinds {
		for _, d := range r.Examples[k] {
			out = append(out, k+" "+d.Key)
		}
	}
	return out
}

// TestVerifyAndRepair makes each kind of drift by hand, against MariaDB,
// PostgreSQL and SQLite with a running bridge and function: a row deleted
// (missing), a value changed (different), a row added for a key that does
// not exist (gone), and two keys that cannot be rows (bad: an age the
// column refuses, a field that is not UTF-8). Verify reports exactly those;
// a dry-run repair changes nothing; repair asks the bridge, which publishes
// the keys again (the function writes them) and keeps the gone row until
// --delete-gone; once the bad keys are fixed in Redis a last verify finds
// nothing.
func TestVerifyAndRepair(t *testing.T) {
	t.Parallel()
	for _, target := range verifyTargets {
		t.Run(target.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			ctx := context.Background()
			prefix := w.Prefix("person")
			cfg, db, table := target.setup(t, w, prefix)
			w.StartBridge(prefix)
			w.startFunction(cfg)
			query := "SELECT person_id, first, age FROM " + table + " ORDER BY person_id"
			var want []string
			for i := 1; i <= 9; i++ {
				w.Redis.HSet(ctx, fmt.Sprintf("%s:%d", prefix, i), "first_name", "p"+strconv.Itoa(i), "age", strconv.Itoa(i))
				want = append(want, fmt.Sprintf("%d|p%d|%d", i, i, i))
			}
			waitRowsOf(t, w, db, query, want)
			if r, code, _ := w.verifyRun(t, cfg, verifyHooks{}); code != VerifyEqual || r.Keys != 9 || r.Rows != 9 {
				t.Fatalf("verify of an equal table: exit %d, %d keys, %d rows", code, r.Keys, r.Rows)
			}

			testenv.Exec(t, db, "DELETE FROM "+table+" WHERE person_id = '3'")
			testenv.Exec(t, db, "UPDATE "+table+" SET age = 99 WHERE person_id = '5'")
			testenv.Exec(t, db, "INSERT INTO "+table+" (person_id, first, age) VALUES ('77', 'ghost', 77)")
			w.Redis.HSet(ctx, prefix+":8", "age", "old")         // the function dead-letters it; the row keeps 8
			w.Redis.HSet(ctx, prefix+":9", "first_name", "\xff") // the bridge dead-letters it; the row keeps p9

			r, code, out := w.verifyRun(t, cfg, verifyHooks{})
			wantKinds := map[string]int64{change.Missing: 1, change.Different: 1, change.Gone: 1, change.Bad: 2}
			wantKeys := []string{"missing " + prefix + ":3", "different " + prefix + ":5", "gone " + prefix + ":77", "bad " + prefix + ":8", "bad " + prefix + ":9"}
			if code != VerifyDiffers || fmt.Sprint(r.Differences) != fmt.Sprint(wantKinds) || !slices.Equal(exampleKeys(r), wantKeys) {
				t.Fatalf("verify: exit %d, %v %q; want exit 1, %v %q", code, r.Differences, exampleKeys(r), wantKinds, wantKeys)
			}
			if d := r.Examples[change.Different][0].Detail; d != `age: row "99", Redis "5"` {
				t.Errorf("different: %q", d)
			}
			if r.Keys != 9 || r.Rows != 9 || !strings.Contains(out, "5 differences (1 missing, 1 different, 1 gone, 2 bad)") {
				t.Errorf("verify: %d keys, %d rows:\n%s", r.Keys, r.Rows, out)
			}

			r, code, _ = w.verifyRun(t, cfg, verifyHooks{}, "--repair")
			if code != VerifyDiffers || r.Repair == nil || !r.Repair.DryRun || r.Repair.Republish != 2 || r.Repair.Gone != 1 || r.Repair.Bad != 2 {
				t.Fatalf("dry-run repair: exit %d, %+v", code, r.Repair)
			}
			time.Sleep(300 * time.Millisecond)
			if got := w.rowsOf(db, query); slices.Contains(got, "3|p3|3") || !slices.Contains(got, "77|ghost|77") {
				t.Fatalf("a dry run changed the table: %q", got)
			}

			r, code, out = w.verifyRun(t, cfg, verifyHooks{}, "--repair", "--yes")
			if code != VerifyDiffers || r.Repair.DryRun || r.Repair.Republished != 2 || r.Repair.Deleted != 0 || r.Repair.Kept != 1 || !strings.Contains(r.Repair.KeptWhy, "JETSYNC_ON_EXPIRED=ignore") {
				t.Fatalf("repair: exit %d, %+v\n%s", code, r.Repair, out)
			}
			want[2], want[4] = "3|p3|3", "5|p5|5" // ids 1..9 in order: 3 back, 5 as Redis holds it
			waitRowsOf(t, w, db, query, append(slices.Clone(want), "77|ghost|77"))

			r, code, _ = w.verifyRun(t, cfg, verifyHooks{}, "--repair", "--yes", "--delete-gone")
			if code != VerifyDiffers || r.Differences[change.Gone] != 1 || r.Differences[change.Missing]+r.Differences[change.Different] != 0 || r.Repair.Deleted != 1 {
				t.Fatalf("repair --delete-gone: exit %d, %v, %+v", code, r.Differences, r.Repair)
			}
			waitRowsOf(t, w, db, query, want)

			w.Redis.HSet(ctx, prefix+":8", "age", "8")
			w.Redis.HSet(ctx, prefix+":9", "first_name", "p9")
			testenv.Eventually(t, 20*time.Second, func() error {
				if r, code, _ := w.verifyRun(t, cfg, verifyHooks{}); code != VerifyEqual {
					return fmt.Errorf("last verify: exit %d, %v", code, r.Differences)
				}
				return nil
			})
		})
	}
}

// waitRowsOf waits until query on db returns the rows of want, in any
// order (databases order text keys by their own collations).
func waitRowsOf(t *testing.T, w *world, db *sql.DB, query string, want []string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	testenv.Eventually(t, 20*time.Second, func() error {
		if got := slices.Sorted(slices.Values(w.rowsOf(db, query))); !slices.Equal(got, want) {
			return fmt.Errorf("%s:\n got %q\nwant %q", query, got, want)
		}
		return nil
	})
}

// TestVerifyKeysWrittenDuringTheRun: keys written while verify runs, with
// the function behind (stopped, started again before the recheck), are not
// reported: each difference is checked again once settled and once the
// function has applied what the stream held. The control reports the first
// pass as it is and must find the writes as drift.
func TestVerifyKeysWrittenDuringTheRun(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "not reported", "no recheck", func(t *testing.T, control bool) {
		w := newWorld(t)
		ctx := context.Background()
		prefix, table := w.Prefix("person"), w.personsTable()
		cfg := w.verifyConfig(w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "first_name:first,last_name:last,age:age", testenv.MySQLAddr()))
		w.StartBridge(prefix)
		stopFn := w.startFunction(cfg)
		for i := range 300 {
			w.Redis.HSet(ctx, fmt.Sprintf("%s:%d", prefix, i), "first_name", "p", "age", strconv.Itoa(i))
		}
		testenv.Eventually(t, 20*time.Second, func() error {
			if n := w.Count(table); n != 300 {
				return fmt.Errorf("%d rows", n)
			}
			return nil
		})
		stopFn()

		// A writer updates, creates and deletes keys until the walk is done.
		var writes atomic.Int64
		stopWriter := make(chan struct{})
		writerDone := make(chan struct{})
		go func() {
			defer close(writerDone)
			for i := 0; ; i++ {
				select {
				case <-stopWriter:
					return
				default:
				}
				switch i % 3 {
				case 0:
					w.Redis.HSet(ctx, fmt.Sprintf("%s:%d", prefix, i%300), "age", strconv.Itoa(1000+i))
				case 1:
					w.Redis.HSet(ctx, fmt.Sprintf("%s:new%d", prefix, i), "age", strconv.Itoa(i))
				default:
					w.Redis.Del(ctx, fmt.Sprintf("%s:%d", prefix, i%300))
				}
				writes.Add(1)
				time.Sleep(time.Millisecond)
			}
		}()
		testenv.Eventually(t, 10*time.Second, func() error {
			if n := writes.Load(); n < 60 {
				return fmt.Errorf("%d writes so far", n)
			}
			return nil
		})
		hooks := verifyHooks{noRecheck: control, beforeRecheck: func() {
			close(stopWriter)
			<-writerDone
			w.startFunction(cfg)
		}}
		r, code, _ := w.verifyRun(t, cfg, hooks)
		if control {
			if code != VerifyDiffers || r.Total() == 0 {
				t.Fatalf("control: exit %d, %v: without the recheck the writes made during the run must show as drift", code, r.Differences)
			}
			return
		}
		if code != VerifyEqual || r.Rechecked == 0 {
			t.Fatalf("exit %d, %v after rechecking %d: keys written during the run were reported", code, r.Differences, r.Rechecked)
		}
	})
}

// TestVerifyJSON: --json prints the whole report for scripts, and the text
// form its summary and examples; exit 1 for a difference.
func TestVerifyJSON(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	prefix, table := w.Prefix("person"), w.personsTable()
	cfg := w.verifyConfig(w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "first_name:first,last_name:last,age:age", testenv.MySQLAddr()))
	for i := 1; i <= 3; i++ {
		w.Redis.HSet(ctx, fmt.Sprintf("%s:%d", prefix, i), "first_name", "p", "age", strconv.Itoa(i))
	}
	testenv.Exec(t, w.DB, "INSERT INTO "+table+" (person_id, first, age) VALUES ('1', 'p', 1), ('2', 'p', 2)")

	_, code, out := w.verifyRun(t, cfg, verifyHooks{}, "--json")
	var got struct {
		Function, Prefix, Table, Connector string
		Keys, Rows                         int64
		Differences                        map[string]int64
		Examples                           map[string][]struct{ Kind, Key, Detail string }
		Seconds                            float64 `json:"duration_seconds"`
		Time                               time.Time
	}
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if code != VerifyDiffers || got.Function != cfg.Name || got.Prefix != prefix || got.Table != table || got.Connector != "mysql" ||
		got.Keys != 3 || got.Rows != 2 || got.Differences[change.Missing] != 1 || got.Seconds <= 0 || got.Time.IsZero() ||
		len(got.Examples[change.Missing]) != 1 || got.Examples[change.Missing][0].Key != prefix+":3" {
		t.Fatalf("exit %d, %+v", code, got)
	}

	_, code, out = w.verifyRun(t, cfg, verifyHooks{})
	if code != VerifyDiffers || !strings.HasPrefix(out, fmt.Sprintf("verify %s: 3 keys of %s in Redis, 2 rows in %s: 1 difference (1 missing)", cfg.Name, prefix, table)) ||
		!strings.Contains(out, fmt.Sprintf("missing    %q  no row", prefix+":3")) {
		t.Fatalf("text: exit %d\n%s", code, out)
	}
}

// TestVerifyMetrics: the running function exports the last verify's
// result, which verify keeps in NATS, as jetsync_verify_* gauges.
func TestVerifyMetrics(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	prefix, table := w.Prefix("person"), w.personsTable()
	cfg := w.verifyConfig(w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "first_name:first,last_name:last,age:age", testenv.MySQLAddr()))
	cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	w.StartBridge(prefix)
	w.startFunction(cfg)
	for i := 1; i <= 4; i++ {
		w.Redis.HSet(ctx, fmt.Sprintf("%s:%d", prefix, i), "age", strconv.Itoa(i))
	}
	w.waitRows(table, map[string]int{"1": 1, "2": 2, "3": 3, "4": 4}, 20*time.Second)
	testenv.Exec(t, w.DB, "UPDATE "+table+" SET age = 0 WHERE person_id IN ('1', '2')")
	r, code, _ := w.verifyRun(t, cfg, verifyHooks{})
	if code != VerifyDiffers || r.Differences[change.Different] != 2 {
		t.Fatalf("verify: exit %d, %v", code, r.Differences)
	}
	series := func(name string) string { return name + `{function="` + cfg.Name + `"` }
	testenv.Eventually(t, 15*time.Second, func() error {
		_, m := testenv.HTTPGet("http://" + cfg.HTTPAddr + "/metrics")
		for s, want := range map[string]float64{
			series("jetsync_verify_differences") + `,kind="different"}`: 2,
			series("jetsync_verify_differences") + `,kind="missing"}`:   0,
			series("jetsync_verify_rows") + "}":                         4,
			series("jetsync_verify_keys") + "}":                         4,
			series("jetsync_verify_last_run_timestamp_seconds") + "}":   float64(r.Time.UnixMilli()) / 1000,
			series("jetsync_verify_duration_seconds") + "}":             r.Seconds,
		} {
			if got := testenv.MetricValue(m, s); got != want {
				return fmt.Errorf("%s = %v, want %v", s, got, want)
			}
		}
		return nil
	})
}

// TestRepairNeedsABridge: repair publishes through the bridge and never
// writes the table itself, so without a bridge it fails, saying so, and
// the table stays as it was.
func TestRepairNeedsABridge(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	prefix, table := w.Prefix("person"), w.personsTable()
	cfg := w.verifyConfig(w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "age:age", testenv.MySQLAddr()))
	w.Redis.HSet(ctx, prefix+":1", "age", "1")
	r, code, out := w.verifyRun(t, cfg, verifyHooks{}, "--repair", "--yes")
	if code != VerifyFailed || r.Differences[change.Missing] != 1 || !strings.Contains(out, "no bridge answers repair requests on jetsync-repair."+prefix) {
		t.Fatalf("repair without a bridge: exit %d\n%s", code, out)
	}
	if n := w.Count(table); n != 0 {
		t.Fatalf("repair without a bridge wrote %d rows", n)
	}
}

// TestVerifyUsage: verify's flags and configuration problems exit 2 with
// what is wrong; --help exits 0.
func TestVerifyUsage(t *testing.T) {
	t.Parallel()
	bin := testenv.Build(t, "./cmd/jetsync-table")
	env := []string{"JETSYNC_FUNCTION_NAME=persons", "JETSYNC_PREFIX=person", "JETSYNC_TABLE=persons", "JETSYNC_KEY_COLUMN=person_id",
		"JETSYNC_MAPPINGS=age:age", "JETSYNC_MYSQL_ADDR=" + testenv.MySQLAddr(), "JETSYNC_NATS_URL=nats://127.0.0.1:1"}
	for _, tt := range []struct {
		args  []string
		env   []string
		code  int
		wants string
	}{
		{[]string{"verify", "--help"}, nil, 0, "usage: jetsync-table verify [--json]"},
		{[]string{"verify", "--frobnicate"}, nil, 2, "flag provided but not defined: -frobnicate"},
		{[]string{"verify", "--yes"}, nil, 2, "--yes and --delete-gone go with --repair"},
		{[]string{"verify", "--delete-gone"}, nil, 2, "--yes and --delete-gone go with --repair"},
		{[]string{"verify", "--examples", "-1"}, nil, 2, "--examples -1: want 0 or more"},
		{[]string{"verify", "--settle", "soon"}, nil, 2, `invalid value "soon" for flag -settle`},
		{[]string{"verify", "tables"}, nil, 2, `unexpected "tables"`},
		{[]string{"verify"}, []string{"JETSYNC_MODE=append"}, 2, "JETSYNC_MODE=append: verify compares one row per key"},
		{[]string{"verify"}, []string{"JETSYNC_VALUE_TYPE=list"}, 2, `JETSYNC_VALUE_TYPE: value type "list": use hash, json or string`},
		{[]string{"verify"}, []string{"JETSYNC_REDIS_ADDR=nowhere"}, 2, `JETSYNC_REDIS_ADDR="nowhere": want host:port`},
	} {
		out, code := runBin(t, bin, append(append([]string{}, env...), tt.env...), tt.args...)
		if code != tt.code || !strings.Contains(out, tt.wants) {
			t.Errorf("jetsync-table %v %v: exit %d, want %d and %q\n%s", tt.args, tt.env, code, tt.code, tt.wants, out)
		}
	}
}

func TestParseVerify(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want VerifyOptions
	}{
		{nil, VerifyOptions{Examples: 5, Settle: 2 * time.Second}},
		{[]string{"--json", "--examples=2", "--settle", "0s"}, VerifyOptions{JSON: true, Examples: 2}},
		{[]string{"--repair", "--yes", "--delete-gone"}, VerifyOptions{Examples: 5, Settle: 2 * time.Second, Repair: true, Yes: true, DeleteGone: true}},
		{[]string{"-repair"}, VerifyOptions{Examples: 5, Settle: 2 * time.Second, Repair: true}},
	} {
		if got, err := ParseVerify(tt.args); err != nil || got != tt.want {
			t.Errorf("%v: %+v, %v; want %+v", tt.args, got, err, tt.want)
		}
	}
	for _, args := range [][]string{{"--yes"}, {"--examples", "x"}, {"--settle", "-1s"}, {"x"}} {
		if _, err := ParseVerify(args); !errors.Is(err, ErrUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if _, err := ParseVerify([]string{"-h"}); !errors.Is(err, ErrHelp) {
		t.Errorf("-h: %v, want ErrHelp", err)
	}
}

// TestVerifyValueTypes: a json prefix (JETSYNC_VALUE_TYPE=json) is read as
// the bridge reads it: top-level fields, a number as its JSON text; a
// string that is not a JSON object and a hash under the prefix are bad.
func TestVerifyValueTypes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	prefix, table := w.Prefix("settings"), w.personsTable()
	cfg := w.verifyConfig(w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "first_name:first,age:age", testenv.MySQLAddr()))
	cfg.ValueType = "json"
	w.Redis.Set(ctx, prefix+":1", `{"first_name": "Ada", "age": 36, "unmapped": [1]}`, 0)
	w.Redis.Set(ctx, prefix+":2", `{"first_name": "Marek", "age": 27}`, 0)
	w.Redis.Set(ctx, prefix+":3", `not json`, 0)
	w.Redis.HSet(ctx, prefix+":4", "age", "4")
	testenv.Exec(t, w.DB, "INSERT INTO "+table+" (person_id, first, age) VALUES ('1', 'Ada', 36), ('2', 'Marek', 28)")
	r, code, _ := w.verifyRun(t, cfg, verifyHooks{})
	want := []string{"different " + prefix + ":2", "bad " + prefix + ":3", "bad " + prefix + ":4"}
	if code != VerifyDiffers || !slices.Equal(exampleKeys(r), want) || r.Differences[change.Missing] != 0 {
		t.Fatalf("exit %d, %q, want %q", code, exampleKeys(r), want)
	}
	if d := r.Examples[change.Bad][1].Detail; !strings.Contains(d, "holds a hash, not a json") {
		t.Errorf("bad hash: %q", d)
	}
}
