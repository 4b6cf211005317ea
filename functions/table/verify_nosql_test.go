package table

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/connectors/cassandra"
	"github.com/jetsync/jetsync/connectors/mongodb"
	"github.com/jetsync/jetsync/connectors/mssql"
	"github.com/jetsync/jetsync/connectors/mysql"
	"github.com/jetsync/jetsync/connectors/postgres"
	"github.com/jetsync/jetsync/connectors/redis"
	"github.com/jetsync/jetsync/connectors/sqlite"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/platform"
	"github.com/jetsync/jetsync/infra/testenv"
)

// nosqlTarget is a target without SQL that verify is tested against: the
// table function's configuration for prefix (persons: person_id, first,
// last, age) and its rows, to change by hand.
type nosqlTarget struct {
	name  string
	setup func(t *testing.T, w *world, prefix string) (Config, nosqlRows)
}

// nosqlRows reads and changes a target's rows behind the function's back.
type nosqlRows struct {
	list   func() []string // every row as "id|first|age", NULL for none, a number as int32(6)
	remove func(id string)
	set    func(id string, age any)
	add    func(id, first, age string)
	// typed: a value keeps its type (MongoDB), so a number is not the text
	// the function writes. spoil puts what refuses the function's write
	// where a row goes (the Redis target: a string); nil where nothing can.
	typed bool
	spoil func(id string)
}

var nosqlTargets = []nosqlTarget{
	{"mongodb", func(t *testing.T, w *world, prefix string) (Config, nosqlRows) {
		uri := testenv.FerretDB(t)
		client, err := mongo.Connect(options.Client().ApplyURI(uri))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Disconnect(context.Background()) })
		cfg := w.tableConfig(testenv.Name("persons"), prefix, "persons", "person_id", "first_name:first,last_name:last,age:age", "")
		cfg.Connector, cfg.MySQL = "mongodb", w.MySQLConfig("nowhere")
		cfg.MongoDB = mongodb.Config{URI: platform.Secret(uri), Database: testenv.Name("jetsync"), KeyFields: true, TombstoneTTL: time.Hour, BulkSize: 16, Timeout: 3 * time.Second}
		coll := client.Database(cfg.MongoDB.Database).Collection("persons")
		ctx := context.Background()
		must := func(_ any, err error) {
			if err != nil {
				t.Fatal(err)
			}
		}
		return w.verifyConfig(cfg), nosqlRows{
			list: func() []string {
				cur, err := coll.Find(ctx, bson.D{{Key: mongodb.DeletedField, Value: bson.D{{Key: "$exists", Value: false}}}})
				if err != nil {
					return []string{err.Error()}
				}
				var docs []bson.M
				if err := cur.All(ctx, &docs); err != nil {
					return []string{err.Error()}
				}
				var out []string
				for _, d := range docs {
					f := func(k string) string {
						switch v := d[k].(type) {
						case nil:
							return "NULL"
						case string:
							return v
						default:
							return fmt.Sprintf("%T(%v)", v, v) // not what the function writes
						}
					}
					out = append(out, fmt.Sprintf("%v|%v|%v", d["_id"], f("first"), f("age")))
				}
				return out
			},
			remove: func(id string) { must(coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})) },
			set: func(id string, age any) {
				must(coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "age", Value: age}}}}))
			},
			add: func(id, first, age string) {
				must(coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "person_id", Value: id}, {Key: "first", Value: first}, {Key: "age", Value: age}}))
			},
			typed: true,
		}
	}},
	{"redis", func(t *testing.T, w *world, prefix string) (Config, nosqlRows) {
		target := goredis.NewClient(&goredis.Options{Addr: testenv.RedisServer(t)})
		t.Cleanup(func() { target.Close() })
		cfg := w.tableConfig(testenv.Name("persons"), prefix, "persons", "person_id", "first_name:first,last_name:last,age:age", "")
		cfg.Connector, cfg.MySQL = "redis", w.MySQLConfig("nowhere")
		cfg.Redis = redis.Config{Addr: target.Options().Addr, Key: "copy:{table}:{key}", Timeout: 2 * time.Second}
		ctx := context.Background()
		return w.verifyConfig(cfg), nosqlRows{
			list: func() []string {
				var out []string
				for _, k := range target.Keys(ctx, "copy:persons:*").Val() {
					h, err := target.HGetAll(ctx, k).Result()
					if err != nil {
						continue // not a hash: no row
					}
					f := func(k string) string { return map[bool]string{true: h[k], false: "NULL"}[h[k] != ""] }
					out = append(out, fmt.Sprintf("%s|%s|%s", h["person_id"], f("first"), f("age")))
				}
				return out
			},
			remove: func(id string) { target.Del(ctx, "copy:persons:"+id) },
			set:    func(id string, age any) { target.HSet(ctx, "copy:persons:"+id, "age", age) },
			add: func(id, first, age string) {
				target.HSet(ctx, "copy:persons:"+id, "person_id", id, "first", first, "age", age)
			},
			spoil: func(id string) { target.Set(ctx, "copy:persons:"+id, "not a hash", 0) },
		}
	}},
}

// TestVerifyAndRepairNoSQL is TestVerifyAndRepair on MongoDB (FerretDB)
// and the Redis target, which have no column types: a row removed
// (missing), a value changed (different; on MongoDB also a number where
// the function writes its text), a row added for a key that does not
// exist (gone), and keys that cannot be rows (bad: a field that is not
// UTF-8; on the Redis target also a string where the row's hash goes,
// which the function's write refuses). Verify reports exactly those,
// repair fixes them through the bridge and the function, and once the bad
// keys are fixed a last verify finds nothing.
func TestVerifyAndRepairNoSQL(t *testing.T) {
	t.Parallel()
	for _, target := range nosqlTargets {
		t.Run(target.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			ctx := context.Background()
			prefix := w.Prefix("person")
			cfg, rows := target.setup(t, w, prefix)
			w.StartBridge(prefix)
			w.startFunction(cfg)
			var want []string
			for i := 1; i <= 9; i++ {
				w.Redis.HSet(ctx, fmt.Sprintf("%s:%d", prefix, i), "first_name", "p"+strconv.Itoa(i), "age", strconv.Itoa(i))
				want = append(want, fmt.Sprintf("%d|p%d|%d", i, i, i))
			}
			waitNoSQLRows(t, rows, want)
			if r, code, _ := w.verifyRun(t, cfg, verifyHooks{}); code != VerifyEqual || r.Keys != 9 || r.Rows != 9 {
				t.Fatalf("verify of an equal table: exit %d, %d keys, %d rows", code, r.Keys, r.Rows)
			}

			rows.remove("3")
			rows.set("5", "99")
			rows.add("77", "ghost", "77")
			w.Redis.HSet(ctx, prefix+":9", "first_name", "\xff") // the bridge dead-letters it; the row keeps p9
			wantKinds := map[string]int64{change.Missing: 1, change.Different: 1, change.Gone: 1, change.Bad: 1}
			wantKeys := []string{"missing " + prefix + ":3", "different " + prefix + ":5", "gone " + prefix + ":77", "bad " + prefix + ":9"}
			rowsLeft := 9
			if rows.typed {
				rows.set("6", int32(6))
				wantKinds[change.Different]++
				wantKeys = slices.Insert(wantKeys, 2, "different "+prefix+":6")
			}
			if rows.spoil != nil {
				rows.spoil("8")
				wantKinds[change.Bad]++
				wantKeys = slices.Insert(wantKeys, len(wantKeys)-1, "bad "+prefix+":8")
				rowsLeft--
			}

			r, code, _ := w.verifyRun(t, cfg, verifyHooks{})
			if code != VerifyDiffers || fmt.Sprint(r.Differences) != fmt.Sprint(wantKinds) || !slices.Equal(exampleKeys(r), wantKeys) {
				t.Fatalf("verify: exit %d, %v %q; want exit 1, %v %q", code, r.Differences, exampleKeys(r), wantKinds, wantKeys)
			}
			details := map[string]string{}
			for _, k := range change.Kinds {
				for _, d := range r.Examples[k] {
					details[d.Key] = d.Detail
				}
			}
			if d := details[prefix+":5"]; d != `age: row "99", Redis "5"` {
				t.Errorf("different: %q", d)
			}
			if d := details[prefix+":6"]; rows.typed && d != `age: row "32-bit integer 6", Redis "6"` {
				t.Errorf("different, a number: %q", d)
			}
			if d := details[prefix+":8"]; rows.spoil != nil && !strings.Contains(d, `the table refuses it: permanent: target key "copy:persons:8" holds a string, not a hash`) {
				t.Errorf("bad, a string where the hash goes: %q", d)
			}
			if r.Keys != 9 || r.Rows != int64(rowsLeft) {
				t.Errorf("verify: %d keys, %d rows; want 9, %d", r.Keys, r.Rows, rowsLeft)
			}

			republish := wantKinds[change.Missing] + wantKinds[change.Different]
			r, code, _ = w.verifyRun(t, cfg, verifyHooks{}, "--repair")
			if code != VerifyDiffers || r.Repair == nil || !r.Repair.DryRun || r.Repair.Republish != republish || r.Repair.Gone != 1 || r.Repair.Bad != wantKinds[change.Bad] {
				t.Fatalf("dry-run repair: exit %d, %+v", code, r.Repair)
			}
			time.Sleep(300 * time.Millisecond)
			if got := rows.list(); slices.Contains(got, "3|p3|3") || !slices.Contains(got, "77|ghost|77") {
				t.Fatalf("a dry run changed the table: %q", got)
			}

			r, code, out := w.verifyRun(t, cfg, verifyHooks{}, "--repair", "--yes")
			if code != VerifyDiffers || r.Repair.DryRun || r.Repair.Republished != republish || r.Repair.Deleted != 0 || r.Repair.Kept != 1 {
				t.Fatalf("repair: exit %d, %+v\n%s", code, r.Repair, out)
			}
			fixed := slices.Clone(want)
			if rows.spoil != nil {
				fixed = slices.DeleteFunc(fixed, func(s string) bool { return strings.HasPrefix(s, "8|") })
			}
			waitNoSQLRows(t, rows, append(slices.Clone(fixed), "77|ghost|77"))

			r, code, _ = w.verifyRun(t, cfg, verifyHooks{}, "--repair", "--yes", "--delete-gone")
			if code != VerifyDiffers || r.Differences[change.Gone] != 1 || r.Differences[change.Missing]+r.Differences[change.Different] != 0 || r.Repair.Deleted != 1 {
				t.Fatalf("repair --delete-gone: exit %d, %v, %+v", code, r.Differences, r.Repair)
			}
			waitNoSQLRows(t, rows, fixed)

			if rows.spoil != nil {
				rows.remove("8")
				w.Redis.HSet(ctx, prefix+":8", "age", "8") // published again
			}
			w.Redis.HSet(ctx, prefix+":9", "first_name", "p9")
			waitNoSQLRows(t, rows, want)
			testenv.Eventually(t, 20*time.Second, func() error {
				if r, code, _ := w.verifyRun(t, cfg, verifyHooks{}); code != VerifyEqual {
					return fmt.Errorf("last verify: exit %d, %v", code, r.Differences)
				}
				return nil
			})
		})
	}
}

// waitNoSQLRows waits until rows lists want, in any order.
func waitNoSQLRows(t *testing.T, rows nosqlRows, want []string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	testenv.Eventually(t, 30*time.Second, func() error {
		if got := slices.Sorted(slices.Values(rows.list())); !slices.Equal(got, want) {
			return fmt.Errorf("rows:\n got %q\nwant %q", got, want)
		}
		return nil
	})
}

// TestVerifyReads: verify reads every target but Cassandra (Oracle's sink
// is the SQL sink's in the build tagged oracle), as the README says; a new
// connector fails here until it is placed.
func TestVerifyReads(t *testing.T) {
	sinks := map[string]handlers.Sink{
		"mysql": (*mysql.Sink)(nil), "postgres": (*postgres.Sink)(nil), "sqlite": (*sqlite.Sink)(nil),
		"mssql": (*mssql.Sink)(nil), "mongodb": (*mongodb.Sink)(nil), "redis": (*redis.Sink)(nil),
		"cassandra": (*cassandra.Sink)(nil), "oracle": nil,
	}
	for name := range registry {
		sink, known := sinks[name]
		if !known {
			t.Errorf("connector %s: say whether verify reads it", name)
			continue
		}
		if name == "oracle" {
			continue
		}
		if _, ok := readerOf(sink); ok != (name != "cassandra") {
			t.Errorf("connector %s: verify reads it: %v", name, ok)
		}
	}
}
