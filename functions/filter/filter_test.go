package filter

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jetsync/jetsync/handlers/handlertest"
	"github.com/jetsync/jetsync/infra/testenv/e2e"
)

const columns = "person_id VARBINARY(255) PRIMARY KEY, first VARCHAR(255), last VARCHAR(255), age INT"

func TestFilterKit(t *testing.T) {
	t.Parallel()
	w := e2e.New(t)
	table := w.Table("persons", columns)
	kit := handlertest.New(t, NoTestUsers{Table: table, SkipIDPrefix: "test-"}, w.MySQLSink())
	kit.Upsert("person:1", map[string]string{"first_name": "Real", "age": "30"})
	kit.Upsert("person:test-2", map[string]string{"first_name": "Skipped by id"})
	kit.Upsert("person:3", map[string]string{"first_name": "Skipped by flag", "is_test": "yes"})
	kit.Upsert("person:4", map[string]string{"first_name": "Kept", "is_test": "false"})
	kit.Upsert("person:5", map[string]string{"first_name": "Bad flag", "is_test": "maybe"})
	if dls := kit.Flush(); len(dls) != 1 || dls[0].Change.Key != "person:5" {
		t.Fatalf("dead letters %v, want person:5 only", dls)
	}
	got, err := w.Rows("SELECT person_id, first FROM " + table + " ORDER BY person_id")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "1|Real" || got[1] != "4|Kept" {
		t.Fatalf("rows %q, want persons 1 and 4", got)
	}
}

func TestFilterEndToEnd(t *testing.T) {
	t.Parallel()
	w := e2e.New(t)
	ctx := context.Background()
	prefix := w.Prefix("person")
	table := w.Table("persons", columns)
	w.StartBridge(prefix)
	w.StartFunction(w.FunctionConfig("filter", prefix), NoTestUsers{Table: table, SkipIDPrefix: "test-"})
	for i := range 20 {
		w.Redis.HSet(ctx, prefix+":test-"+strconv.Itoa(i), "first_name", "t")
		w.Redis.HSet(ctx, prefix+":"+strconv.Itoa(i), "first_name", "p", "is_test", strconv.FormatBool(i%2 == 0))
	}
	w.Redis.HSet(ctx, prefix+":last", "first_name", "last")
	var want []string
	for _, i := range []int{1, 11, 13, 15, 17, 19, 3, 5, 7, 9} {
		want = append(want, strconv.Itoa(i))
	}
	want = append(want, "last")
	w.WaitRows(15*time.Second, want, "SELECT person_id FROM "+table+" ORDER BY person_id")
}
