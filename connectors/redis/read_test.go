package redis_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/testenv"
)

// TestRead reads the target back as verify does, with a template that puts
// the table after the key: SCAN pages of 3 walk every row once and nothing
// else (not the sink's own keys, another table's, or a string under the
// template) even where the template matches them; Rows finds the keys asked that are hashes; Count counts the
// template's keys; Probe gives what a write would leave and refuses a key
// that is not a hash for good.
func TestRead(t *testing.T) {
	ctx := context.Background()
	addr := testenv.RedisServer(t)
	cfg := config(addr)
	cfg.Key = "row:{key}@{table}"
	s := open(t, cfg)
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })

	w := handlers.Write{Function: "fn"}
	var want []string
	for i := range 10 {
		id := fmt.Sprintf("k:%d", i) // a ':' in the key's value is kept
		w.Changes = append(w.Changes, handlers.KeySeq{Key: "p:" + id, Seq: uint64(i + 1)})
		var age any = i
		if i == 4 {
			age = nil
		}
		w.Ops = append(w.Ops, handlers.Op{Table: "people", Key: []handlers.Column{{Name: "id", Value: id}},
			Values: []handlers.Column{{Name: "name", Value: "n" + id}, {Name: "age", Value: age}}})
		want = append(want, fmt.Sprintf("%s=n%s,%s", id, id, map[bool]string{true: "NULL", false: fmt.Sprint(i)}[i == 4]))
	}
	w.Ops = append(w.Ops, handlers.Op{Table: "other", Key: []handlers.Column{{Name: "id", Value: "1"}}, Values: []handlers.Column{{Name: "name", Value: "x"}}})
	if err := s.Write(ctx, w); err != nil {
		t.Fatal(err)
	}
	rdb.Set(ctx, "row:str@people", "not a hash", 0)
	shape := connectors.Shape{Table: "people", Key: []string{"id"}, Columns: []string{"name", "age"}}

	var got []string
	var cursor uint64
	for pages := 0; ; pages++ {
		page, next, err := s.Scan(ctx, shape, cursor, 3)
		if err != nil || pages > 100 {
			t.Fatalf("scan: %v after %d pages", err, pages)
		}
		got = append(got, text(page)...)
		if cursor = next; cursor == 0 {
			break
		}
	}
	if slices.Sort(got); !slices.Equal(got, want) {
		t.Fatalf("scan:\n got %q\nwant %q", got, want)
	}
	rows, err := s.Rows(ctx, shape, [][]string{{"k:1"}, {"k:4"}, {"str"}, {"k:99"}})
	if got := text(rows); err != nil || strings.Join(got, " ") != "k:1=nk:1,1 k:4=nk:4,NULL" {
		t.Fatalf("rows: %q, %v", got, err)
	}
	if n, err := s.Count(ctx, "people"); err != nil || n != 11 {
		t.Fatalf("count: %d, %v; want 11 (10 rows and the string)", n, err)
	}
	op := func(id string, age any) handlers.Op {
		return handlers.Op{Table: "people", Key: []handlers.Column{{Name: "id", Value: id}}, Values: []handlers.Column{{Name: "age", Value: age}}}
	}
	probed, err := s.Probe(ctx, shape, []handlers.Op{op("k:1", 42), op("new", nil)})
	if got := text(probed); err != nil || strings.Join(got, " ") != "k:1=NULL,42 new=NULL,NULL" {
		t.Fatalf("probe: %q, %v", got, err)
	}
	if _, err := s.Probe(ctx, shape, []handlers.Op{op("k:1", 1), op("str", 1)}); !errors.Is(err, handlers.ErrPermanent) || !strings.Contains(err.Error(), `"row:str@people" holds a string`) {
		t.Fatalf("probe of a string key: %v, want it refused for good", err)
	}
	if n := rdb.HGet(ctx, "row:k:1@people", "age").Val(); n != "1" {
		t.Fatalf("a probe wrote: age %q", n)
	}

	// A template of the key alone matches every key: the sink's own are
	// still not rows.
	cfg.Key = "{key}"
	all, _, err := open(t, cfg).Scan(ctx, shape, 0, 1000)
	if err != nil || len(all) != 11 || slices.ContainsFunc(all, func(r connectors.Row) bool { return strings.HasPrefix(r.Key[0], "jetsync:") }) {
		t.Fatalf("scan of {key}: %q, %v; want the 11 hashes of both tables", text(all), err)
	}
}

// text is rows as "key=value,value" lines, NULL for a missing field.
func text(rows []connectors.Row) []string {
	var out []string
	for _, r := range rows {
		vals := make([]string, len(r.Values))
		for i, v := range r.Values {
			vals[i] = map[bool]string{true: v.String, false: "NULL"}[v.Valid]
		}
		out = append(out, strings.Join(r.Key, ",")+"="+strings.Join(vals, ","))
	}
	return out
}
