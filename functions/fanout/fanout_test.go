package fanout

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/handlers/handlertest"
	"github.com/jetsync/jetsync/infra/testenv"
	"github.com/jetsync/jetsync/infra/testenv/e2e"
)

func tables(w *e2e.World) (persons, emails string) {
	persons = w.Table("persons", "person_id VARBINARY(255) PRIMARY KEY, first VARCHAR(255), last VARCHAR(255), age INT")
	emails = w.Table("emails", "person_id VARBINARY(255) PRIMARY KEY, email VARCHAR(16) NOT NULL")
	return persons, emails
}

func TestFanOutKit(t *testing.T) {
	t.Parallel()
	w := e2e.New(t)
	persons, emails := tables(w)
	kit := handlertest.New(t, FanOut{Persons: persons, Emails: emails}, w.MySQLSink())
	kit.Upsert("person:1", map[string]string{"first_name": "A", "email": "A@X.PL"})
	kit.Upsert("person:2", map[string]string{"first_name": "B"})
	kit.Upsert("person:3", map[string]string{"first_name": "C", "email": "c@x.pl"})
	// Too long for email VARCHAR(16): neither row of person 4 may be written.
	kit.Upsert("person:4", map[string]string{"first_name": "D", "email": "much.too.long@example.com"})
	dls := kit.Flush()
	if len(dls) != 1 || dls[0].Change.Key != "person:4" {
		t.Fatalf("dead letters %v, want person:4", dls)
	}
	kit.Upsert("person:1", map[string]string{"first_name": "A"}) // email removed
	kit.Delete("person:3")
	if dls := kit.Flush(); len(dls) != 0 {
		t.Fatal(dls)
	}
	got, _ := w.Rows("SELECT person_id, first FROM " + persons + " ORDER BY person_id")
	if len(got) != 2 || got[0] != "1|A" || got[1] != "2|B" {
		t.Fatalf("persons %q", got)
	}
	if got, _ := w.Rows("SELECT person_id FROM " + emails); len(got) != 0 {
		t.Fatalf("emails %q, want none", got)
	}
}

// TestFanOutEndToEnd checks that both tables change together.
func TestFanOutEndToEnd(t *testing.T) {
	t.Parallel()
	w := e2e.New(t)
	ctx := context.Background()
	prefix := w.Prefix("person")
	persons, emails := tables(w)
	w.StartBridge(prefix)
	w.StartFunction(w.FunctionConfig("fanout", prefix), FanOut{Persons: persons, Emails: emails})

	w.Redis.HSet(ctx, prefix+":5", "first_name", "Marek", "age", "27", "email", "Marek@X.PL")
	w.WaitRows(10*time.Second, []string{"5|Marek|27"}, "SELECT person_id, first, age FROM "+persons)
	w.WaitRows(10*time.Second, []string{"5|marek@x.pl"}, "SELECT person_id, email FROM "+emails)
	w.Redis.Del(ctx, prefix+":5")
	w.WaitRows(10*time.Second, nil, "SELECT person_id FROM "+persons)
	w.WaitRows(10*time.Second, nil, "SELECT person_id FROM "+emails)
}

// TestFanOutProcess runs the example's main as a process configured by
// environment only; the function names itself.
func TestFanOutProcess(t *testing.T) {
	t.Parallel()
	w := e2e.New(t)
	ctx := context.Background()
	prefix := w.Prefix("person")
	persons, emails := tables(w)
	w.StartBridge(prefix)
	cmd := exec.Command(testenv.Build(t, "./cmd/fanout"))
	cmd.Env = []string{
		"JETSYNC_PREFIX=" + prefix, "JETSYNC_STREAM=" + w.Stream, "JETSYNC_NATS_URL=" + w.NATSURL,
		"JETSYNC_PERSONS_TABLE=" + persons, "JETSYNC_EMAILS_TABLE=" + emails,
		"JETSYNC_MYSQL_ADDR=" + testenv.MySQLAddr(),
	}
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Log(out.String())
		}
	})
	w.Redis.HSet(ctx, prefix+":1", "first_name", "Proc", "email", "p@x.pl")
	w.WaitRows(15*time.Second, []string{"1|p@x.pl"}, "SELECT person_id, email FROM "+emails)
	nc, err := nats.Connect(w.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	c, err := js.Consumer(ctx, w.Stream, "persons-fanout")
	if err != nil {
		t.Fatalf("consumer persons-fanout: %v", err)
	}
	if v := c.CachedInfo().Config.Metadata["jetsync_version"]; v != "1" {
		t.Fatalf("consumer version %q, want 1", v)
	}
}
