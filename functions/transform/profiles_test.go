package transform

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jetsync/jetsync/handlers/handlertest"
	"github.com/jetsync/jetsync/infra/testenv/e2e"
)

const columns = "person_id VARBINARY(255) PRIMARY KEY, full_name VARCHAR(512), age INT, email VARCHAR(320), signed_up DATETIME NULL, updated_at DATETIME(6) NOT NULL"

// TestProfilesKit unit-tests the function with the kit: changes in, rows out
// of a real MariaDB, no NATS or Redis.
func TestProfilesKit(t *testing.T) {
	t.Parallel()
	w := e2e.New(t)
	table := w.Table("profiles", columns)
	kit := handlertest.New(t, Profiles{Table: table}, w.MySQLSink())
	kit.Now = func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }
	kit.Upsert("person:1", map[string]string{"first_name": " Marek", "last_name": "Michalski ", "age": "27", "email": "  Marek@Example.COM ", "signed_up": "2024-02-29"})
	kit.Upsert("person:2", map[string]string{"first_name": "Ada", "age": "", "signed_up": "1700000000"})
	kit.Upsert("person:3", map[string]string{"first_name": "Bad", "age": "twenty"})
	kit.Upsert("person:4", map[string]string{"first_name": "Bad", "signed_up": "yesterday"})
	kit.Upsert("person:5", map[string]string{"first_name": "Gone"})
	kit.Delete("person:5")
	dls := kit.Flush()

	if len(dls) != 2 || dls[0].Change.Key != "person:3" || dls[1].Change.Key != "person:4" {
		t.Fatalf("dead letters %v, want person:3 and person:4", dls)
	}
	if !strings.Contains(dls[0].Err.Error(), `field "age" of person:3: "twenty" is not an integer`) {
		t.Fatalf("reason %q", dls[0].Err)
	}
	if !strings.Contains(dls[1].Err.Error(), `field "signed_up" of person:4`) {
		t.Fatalf("reason %q", dls[1].Err)
	}
	got, err := w.Rows("SELECT person_id, full_name, age, email, signed_up, updated_at FROM " + table + " ORDER BY person_id")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"1|Marek Michalski|27|marek@example.com|2024-02-29 00:00:00|2026-11-26 12:00:00.000000",
		"2|Ada|NULL|NULL|2023-11-14 22:13:20|2026-11-26 12:00:00.000000",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestProfilesEndToEnd runs the function against Redis, the bridge,
// JetStream and MariaDB.
func TestProfilesEndToEnd(t *testing.T) {
	t.Parallel()
	w := e2e.New(t)
	ctx := context.Background()
	prefix := w.Prefix("person")
	table := w.Table("profiles", columns)
	w.StartBridge(prefix)
	cfg := w.FunctionConfig("", prefix) // the name comes from the function
	cfg.Version = ""
	w.StartFunction(cfg, Profiles{Table: table})

	w.Redis.HSet(ctx, prefix+":5", "first_name", "Marek", "last_name", "Michalski", "age", "27", "email", "MAREK@EXAMPLE.COM")
	w.Redis.HSet(ctx, prefix+":6", "first_name", "Bad", "age", "old")
	w.WaitRows(10*time.Second, []string{"5|Marek Michalski|27|marek@example.com"}, "SELECT person_id, full_name, age, email FROM "+table)
	w.Redis.HSet(ctx, prefix+":5", "age", "28")
	w.WaitRows(10*time.Second, []string{"5|28"}, "SELECT person_id, age FROM "+table)
	w.Redis.Del(ctx, prefix+":5")
	w.WaitRows(10*time.Second, nil, "SELECT person_id FROM "+table)
}
