package redis_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/connectors/conformance"
	"github.com/jetsync/jetsync/connectors/redis"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/testenv"
)

func config(addr string) redis.Config {
	return redis.Config{Addr: addr, Key: "{table}:{key}", Timeout: 2 * time.Second}
}

func open(t testing.TB, cfg redis.Config) *redis.Sink {
	t.Helper()
	s, err := redis.Open(context.Background(), cfg, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// readTable reads every row of table from the target as the suite wants
// it: the spec's columns as text, NULL for a missing field, ordered by the
// key (numerically for integer keys).
func readTable(t *testing.T, rdb *goredis.Client, table string, spec conformance.Table) [][]string {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, strings.NewReplacer("*", `\*`, "?", `\?`, "[", `\[`).Replace(table)+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, k := range keys {
		if rdb.Type(ctx, k).Val() != "hash" {
			continue // Refused's blocker
		}
		h, err := rdb.HGetAll(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		row := make([]string, 0, len(spec.All()))
		for _, c := range spec.All() {
			v, ok := h[c.Name]
			if !ok {
				v = conformance.Null
			}
			row = append(row, v)
		}
		rows = append(rows, row)
	}
	conformance.SortByKey(rows, spec)
	return rows
}

// TestConformance runs the connector suite against a redis-server of the
// test's own (the second Redis: the shared one is the source elsewhere).
func TestConformance(t *testing.T) {
	addr := testenv.RedisServer(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	conformance.Run(t, conformance.Harness{
		Open: func(t *testing.T, a string) handlers.Sink {
			if a == "" {
				a = addr
			}
			return open(t, config(a))
		},
		CreateTable: func(t *testing.T, spec conformance.Table) string { return testenv.Name(spec.Base) },
		Read: func(t *testing.T, table string, spec conformance.Table) [][]string {
			return readTable(t, rdb, table, spec)
		},
		// A string where row e's hash would go: refused for good.
		Refused: func(t *testing.T, table string) handlers.Op {
			rdb.Set(context.Background(), table+":e", "not a hash", 0)
			return handlers.Op{Table: table, Key: []handlers.Column{{Name: "id", Value: "e"}}, Values: []handlers.Column{{Name: "age", Value: "4"}}}
		},
		Addr: addr,
		Caps: conformance.Capabilities{Guards: true, Untyped: true},
	})
}

// TestWriteIsAtomic: a write whose target key holds another type than a
// hash is refused as permanent before anything is written, its guards
// included.
func TestWriteIsAtomic(t *testing.T) {
	addr := testenv.RedisServer(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	s := open(t, config(addr))
	rdb.Set(ctx, "people:blocked", "a string", 0)
	key := func(id string) []handlers.Column { return []handlers.Column{{Name: "id", Value: id}} }
	err := s.Write(ctx, handlers.Write{Function: "fn",
		Changes: []handlers.KeySeq{{Key: "p:ok", Seq: 1}, {Key: "p:blocked", Seq: 2}},
		Ops: []handlers.Op{{Table: "people", Key: key("ok"), Values: []handlers.Column{{Name: "name", Value: "a"}}},
			{Table: "people", Key: key("blocked"), Values: []handlers.Column{{Name: "name", Value: "b"}}}}})
	if !handlers.IsPermanent(err) || !strings.Contains(err.Error(), `"people:blocked" holds a string`) {
		t.Fatalf("write onto a string key: %v, want a permanent error naming it", err)
	}
	if n := rdb.Exists(ctx, "people:ok").Val(); n != 0 {
		t.Fatal("the write's other row was written")
	}
	if cp, err := s.Checkpoint(ctx, "fn"); err != nil || cp != 0 {
		t.Fatalf("checkpoint %d (%v) after a refused write, want 0", cp, err)
	}
	// The same changes apply once the key is free: nothing was recorded.
	rdb.Del(ctx, "people:blocked")
	if err := s.Write(ctx, handlers.Write{Function: "fn", Changes: []handlers.KeySeq{{Key: "p:ok", Seq: 1}},
		Ops: []handlers.Op{{Table: "people", Key: key("ok"), Values: []handlers.Column{{Name: "name", Value: "a"}}}}}); err != nil {
		t.Fatal(err)
	}
	var stale *handlers.StaleError
	err = s.Write(ctx, handlers.Write{Function: "fn", Changes: []handlers.KeySeq{{Key: "p:ok", Seq: 1}},
		Ops: []handlers.Op{{Table: "people", Key: key("ok"), Values: []handlers.Column{{Name: "name", Value: "again"}}}}})
	if !errors.As(err, &stale) || len(stale.Stale) != 1 || stale.Stale[0] != (handlers.KeySeq{Key: "p:ok", Seq: 1}) {
		t.Fatalf("a redelivery: %v, want a StaleError naming p:ok@1", err)
	}
	if v := rdb.HGet(ctx, "people:ok", "name").Val(); v != "a" {
		t.Fatalf("name %q after a stale write, want a", v)
	}
}

// TestKeyTemplate: the key template places the table and the key columns.
func TestKeyTemplate(t *testing.T) {
	addr := testenv.RedisServer(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	cfg := config(addr)
	cfg.Key = "eu:{table}:{key}:v1"
	s := open(t, cfg)
	err := s.Write(ctx, handlers.Write{Function: "fn", Changes: []handlers.KeySeq{{Key: "p:1", Seq: 1}},
		Ops: []handlers.Op{{Table: "orders", Key: []handlers.Column{{Name: "shop", Value: "s1"}, {Name: "id", Value: 7}},
			Values: []handlers.Column{{Name: "total", Value: 12}, {Name: "gone", Value: (*int64)(nil)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	got := rdb.HGetAll(ctx, "eu:orders:s1:7:v1").Val()
	if len(got) != 3 || got["shop"] != "s1" || got["id"] != "7" || got["total"] != "12" {
		t.Fatalf("hash %v", got)
	}
	if err := s.Truncate(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, "eu:orders:s1:7:v1").Val(); n != 0 {
		t.Fatal("Truncate left the row")
	}
	for _, bad := range []string{"{table}:x", ""} {
		c := config(addr)
		c.Key = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "JETSYNC_TARGET_REDIS_KEY") {
			t.Fatalf("template %q: %v, want an error naming JETSYNC_TARGET_REDIS_KEY", bad, err)
		}
	}
}
