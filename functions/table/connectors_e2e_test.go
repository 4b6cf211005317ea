package table

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/jetsync/jetsync/connectors/mongodb"
	"github.com/jetsync/jetsync/connectors/postgres"
	"github.com/jetsync/jetsync/connectors/redis"
	"github.com/jetsync/jetsync/connectors/sqlite"
	"github.com/jetsync/jetsync/infra/platform"
	"github.com/jetsync/jetsync/infra/testenv"
)

// lifecycle follows one person through HSET, update, HDEL and DEL with the
// table function writing into db's table through cfg's connector.
func lifecycle(t *testing.T, w *world, cfg Config, db *sql.DB, table string) {
	ctx := context.Background()
	w.StartBridge(cfg.Prefix)
	w.startFunction(cfg)
	key := cfg.Prefix + ":5"
	check := func(step, want string) {
		t.Helper()
		testenv.Eventually(t, 15*time.Second, func() error {
			rows := w.rowsOf(db, fmt.Sprintf(`SELECT first, last, age, note FROM %s WHERE person_id = '5'`, table))
			if got := strings.Join(rows, ";"); got != want {
				return fmt.Errorf("%s: row %q, want %q", step, got, want)
			}
			return nil
		})
	}
	w.Redis.HSet(ctx, key, "first_name", "Marek", "last_name", "Michalski", "age", "27", "unmapped", "x")
	check("HSET", "Marek|Michalski|27|untouched")
	w.Redis.HSet(ctx, key, "age", "28")
	check("update", "Marek|Michalski|28|untouched")
	w.Redis.HDel(ctx, key, "last_name")
	check("HDEL", "Marek|NULL|28|untouched")
	w.Redis.Del(ctx, key)
	check("DEL", "")
}

// rowsOf returns query's rows as '|'-joined text, NULL for NULL.
func (w *world) rowsOf(db *sql.DB, query string) []string {
	rows, err := db.Query(query)
	if err != nil {
		return []string{err.Error()}
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return []string{err.Error()}
		}
		var f []string
		for _, v := range vals {
			if v.Valid {
				f = append(f, v.String)
			} else {
				f = append(f, "NULL")
			}
		}
		out = append(out, strings.Join(f, "|"))
	}
	return out
}

// TestPostgresConnector runs the table function into PostgreSQL
// (JETSYNC_CONNECTOR=postgres).
func TestPostgresConnector(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	db := testenv.Postgres(t)
	table := testenv.Name("persons")
	testenv.Exec(t, db, "CREATE TABLE "+table+" (person_id VARCHAR(255) PRIMARY KEY, first VARCHAR(255), last VARCHAR(255), age INT, note VARCHAR(255) DEFAULT 'untouched')")
	t.Cleanup(func() { db.Exec("DROP TABLE " + table) })
	cfg := w.tableConfig(testenv.Name("persons"), w.Prefix("person"), table, "person_id", "first_name:first,last_name:last,age:age", "")
	cfg.Connector, cfg.MySQL = "postgres", w.MySQLConfig("nowhere") // only the selected connector's settings are used
	cfg.Postgres = postgres.Config{Addr: testenv.PostgresAddr(), User: "postgres", Database: "test", SSLMode: "disable", MaxConns: 2, Timeout: 2 * time.Second}
	lifecycle(t, w, cfg, db, table)
}

// TestSQLiteConnector runs the table function into a SQLite file
// (JETSYNC_CONNECTOR=sqlite): no database server at all.
func TestSQLiteConnector(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	path := filepath.Join(t.TempDir(), "jetsync.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	testenv.Exec(t, db, "CREATE TABLE persons (person_id TEXT PRIMARY KEY, first TEXT, last TEXT, age INTEGER, note TEXT DEFAULT 'untouched') STRICT")
	cfg := w.tableConfig(testenv.Name("persons"), w.Prefix("person"), "persons", "person_id", "first_name:first,last_name:last,age:age", "")
	cfg.Connector, cfg.MySQL = "sqlite", w.MySQLConfig("nowhere")
	cfg.SQLite = sqlite.Config{Path: path, BusyTimeout: 10 * time.Second, Synchronous: "normal"}
	lifecycle(t, w, cfg, db, "persons")
}

// TestConnectorSelection: only the selected connector's configuration is
// validated, and a connector this build lacks says how to get it.
func TestConnectorSelection(t *testing.T) {
	base := Config{Config: newWorld(t).FunctionConfig("fn", "p"), Table: "t", KeyColumn: "id", Mappings: "a:a", Mode: "upsert"}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"sqlite ignores a broken mysql config", func(c *Config) {
			c.Connector, c.SQLite = "sqlite", sqlite.Config{Path: "x.db", Synchronous: "full"}
		}, ""},
		{"postgres validated", func(c *Config) { c.Connector = "postgres" }, "JETSYNC_POSTGRES_ADDR"},
		{"cassandra validated", func(c *Config) { c.Connector = "cassandra" }, "JETSYNC_CASSANDRA_HOSTS"},
		{"unknown", func(c *Config) { c.Connector = "mongo" }, "use cassandra, mongodb, mssql, mysql, oracle, postgres, redis, sqlite"},
		// The README's default version holds: no JETSYNC_FUNCTION_VERSION is version 1.
		{"no version", func(c *Config) {
			c.Config.Version, c.SQLite = "", sqlite.Config{Path: "x.db", Synchronous: "full"}
			c.Connector = "sqlite"
		}, ""},
		{"redis validated", func(c *Config) { c.Connector, c.Redis.Addr, c.Redis.Key = "redis", "127.0.0.1:6380", "{table}" }, "JETSYNC_TARGET_REDIS_KEY"},
		{"mssql validated", func(c *Config) { c.Connector = "mssql" }, "JETSYNC_MSSQL_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.edit(&c)
			err := c.Validate()
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestRedisConnector runs the table function into a second Redis
// (JETSYNC_CONNECTOR=redis): each key of the prefix becomes a hash of the
// mapped columns under the key template; a field removed is a field
// removed, a deleted key a deleted key.
func TestRedisConnector(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	target := goredis.NewClient(&goredis.Options{Addr: testenv.RedisServer(t)})
	t.Cleanup(func() { target.Close() })
	cfg := w.tableConfig(testenv.Name("persons"), w.Prefix("person"), "persons", "person_id", "first_name:first,last_name:last,age:age", "")
	cfg.Connector, cfg.MySQL = "redis", w.MySQLConfig("nowhere")
	cfg.Redis = redis.Config{Addr: target.Options().Addr, Key: "copy:{table}:{key}", Timeout: 2 * time.Second}
	w.StartBridge(cfg.Prefix)
	w.startFunction(cfg)
	ctx := context.Background()
	key := cfg.Prefix + ":5"
	check := func(step string, want map[string]string) {
		t.Helper()
		testenv.Eventually(t, 15*time.Second, func() error {
			got := target.HGetAll(ctx, "copy:persons:5").Val()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("%s: target hash %v, want %v", step, got, want)
			}
			return nil
		})
	}
	w.Redis.HSet(ctx, key, "first_name", "Marek", "last_name", "Michalski", "age", "27", "unmapped", "x")
	check("HSET", map[string]string{"person_id": "5", "first": "Marek", "last": "Michalski", "age": "27"})
	w.Redis.HDel(ctx, key, "last_name")
	check("HDEL", map[string]string{"person_id": "5", "first": "Marek", "age": "27"})
	w.Redis.Del(ctx, key)
	check("DEL", map[string]string{})
}

// TestMongoDBConnector runs the table function into a FerretDB
// (JETSYNC_CONNECTOR=mongodb): a document per key, a removed field
// $unset, a delete leaving a tombstone; then a replay of the whole prefix,
// whose every change the documents' guards refuse as stale while the
// function counts them and goes on (handlers.StaleError.Applied).
func TestMongoDBConnector(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	uri := testenv.FerretDB(t)
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Disconnect(context.Background()) })
	cfg := w.tableConfig(testenv.Name("persons"), w.Prefix("person"), "persons", "person_id", "first_name:first,last_name:last,age:age", "")
	cfg.Connector, cfg.MySQL = "mongodb", w.MySQLConfig("nowhere")
	cfg.MongoDB = mongodb.Config{URI: platform.Secret(uri), Database: testenv.Name("jetsync"), KeyFields: true, TombstoneTTL: time.Hour, BulkSize: 16, Timeout: 3 * time.Second}
	cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	coll := client.Database(cfg.MongoDB.Database).Collection("persons")
	w.StartBridge(cfg.Prefix)
	w.startFunction(cfg)
	ctx := context.Background()
	check := func(step, id, want string) {
		t.Helper()
		testenv.Eventually(t, 15*time.Second, func() error {
			var doc bson.M
			if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc); err != nil {
				return fmt.Errorf("%s: %v", step, err)
			}
			if _, ok := doc[mongodb.DeletedField]; ok {
				doc = bson.M{"deleted": true}
			}
			delete(doc, mongodb.SeqField)
			var fields []string
			for _, k := range slices.Sorted(maps.Keys(doc)) {
				fields = append(fields, fmt.Sprintf("%s:%v", k, doc[k]))
			}
			if got := strings.Join(fields, " "); got != want {
				return fmt.Errorf("%s: document %s, want %s", step, got, want)
			}
			return nil
		})
	}
	key := cfg.Prefix + ":5"
	w.Redis.HSet(ctx, key, "first_name", "Marek", "last_name", "Michalski", "age", "27", "unmapped", "x")
	check("HSET", "5", "_id:5 age:27 first:Marek last:Michalski person_id:5")
	w.Redis.HDel(ctx, key, "last_name")
	check("HDEL", "5", "_id:5 age:27 first:Marek person_id:5")
	w.Redis.Del(ctx, key)
	check("DEL", "5", "deleted:true")
	w.Redis.HSet(ctx, cfg.Prefix+":6", "first_name", "Ada")
	check("HSET", "6", "_id:6 first:Ada person_id:6")

	if code, out, errOut := w.jetsync(ctx, "replay", cfg.Name, "--all"); code != 0 {
		t.Fatalf("replay: %d\n%s\n%s", code, out, errOut)
	}
	testenv.Eventually(t, 15*time.Second, func() error {
		_, body := testenv.HTTPGet("http://" + cfg.HTTPAddr + "/metrics")
		count := func(result string) float64 {
			return testenv.MetricValue(body, `jetsync_function_changes_total{function="`+cfg.Name+`",result="`+result+`"}`)
		}
		// The replay's 4 changes: the 2 of key 5 its delete supersedes
		// (coalesced) and 2 that the documents already hold (stale).
		if applied, stale, coalesced := count("applied"), count("stale"), count("coalesced"); applied != 4 || stale != 2 || coalesced != 2 {
			return fmt.Errorf("after the replay: applied %v, stale %v, coalesced %v; want 4, 2, 2", applied, stale, coalesced)
		}
		return nil
	})
	check("after the replay", "5", "deleted:true")
	w.Redis.HSet(ctx, cfg.Prefix+":6", "age", "36")
	check("HSET after the replay", "6", "_id:6 age:36 first:Ada person_id:6")
}
