package table

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge"
	"github.com/jetsync/jetsync/infra/cli"
	"github.com/jetsync/jetsync/infra/platform"
	"github.com/jetsync/jetsync/infra/testenv"
)

// natsUsersServer starts an embedded nats-server whose users and
// permissions are infra/nats/users.conf, pasted as the file says with the
// function persons named function (its state rows in the shared test
// database are then the test's own), and returns each user's NATS
// configuration, by the file's user names.
func natsUsersServer(t *testing.T, function string) map[string]platform.NATSConfig {
	t.Helper()
	excerpt, err := os.ReadFile("../../infra/nats/users.conf")
	if err != nil {
		t.Fatal(err)
	}
	excerpt = bytes.ReplaceAll(excerpt, []byte("persons"), []byte(function))
	users := map[string]platform.NATSConfig{}
	var conf strings.Builder
	for _, u := range []struct{ user, variable string }{
		{"jetsync-bridge", "JETSYNC_BRIDGE_PASSWORD"}, {"jetsync-persons", "JETSYNC_PERSONS_PASSWORD"}, {"jetsync-tool", "JETSYNC_TOOL_PASSWORD"},
	} {
		pw := "pw-" + u.user
		fmt.Fprintf(&conf, "%s: %q\n", u.variable, pw)
		user := strings.ReplaceAll(u.user, "persons", function)
		users[u.user] = platform.NATSConfig{User: user, Password: platform.Secret(pw), InboxPrefix: "_INBOX_" + user}
	}
	conf.Write(excerpt) // after the passwords, as the file says
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.NoSigs, opts.NoLog = "127.0.0.1", -1, true, true
	opts.JetStream, opts.StoreDir = true, t.TempDir()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	for name, u := range users {
		u.URL = s.ClientURL()
		users[name] = u
	}
	return users
}

// logBuffer collects log lines written from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMinimalNATSUsers runs the pipeline on an embedded nats-server whose
// users are exactly infra/nats/users.conf (the README's Security section
// points at it): the bridge, the table function persons and the jetsync
// tool each under its own user, with its own inbox prefix. A write reaches
// the table, the tool reports status, and nothing any of them did was
// refused. Then, as the function's user: reading another function's
// consumer (cars), publishing a change and creating a stream are refused
// (control: the tool's user reads cars).
func TestMinimalNATSUsers(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	function := testenv.Name("persons")
	users := natsUsersServer(t, function)
	redisAddr := testenv.RedisServer(t, "--notify-keyspace-events", "Kgh$lsz")
	ctx := context.Background()
	var logs logBuffer
	log := platform.NewLogger(platform.LogConfig{Format: "text", Level: "info"}, &logs)

	bcfg := w.BridgeConfig("person")
	bcfg.Redis.Addr = redisAddr
	bcfg.StreamConfig.Name = "JETSYNC"
	bcfg.NATS = users["jetsync-bridge"]
	bridgeStop := w.Start("bridge", func(ctx context.Context) error {
		b, err := bridge.New(ctx, bcfg, log.With("component", "bridge"))
		if err != nil {
			return err
		}
		return b.Run(ctx)
	})
	defer bridgeStop()

	table := w.personsTable()
	cfg := w.tableConfig(function, "person", table, "person_id", "first_name:first,age:age", testenv.MySQLAddr())
	cfg.Stream = "JETSYNC"
	cfg.NATS = users["jetsync-persons"]
	stop := w.Start("persons", func(ctx context.Context) error { return Run(ctx, cfg, log.With("component", "persons")) })
	defer stop()

	admin := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer admin.Close()
	testenv.Eventually(t, 20*time.Second, func() error {
		admin.HSet(ctx, "person:1", "first_name", "Ada", "age", "36")
		if p, ok, err := w.person(table, "1"); err != nil || !ok || p.first.String != "Ada" {
			return fmt.Errorf("row of person:1: %+v, %v, %v; log:\n%s", p, ok, err, logs.String())
		}
		return nil
	})

	var out, errOut bytes.Buffer
	if code := cli.Run(ctx, cli.Config{NATS: users["jetsync-tool"], Stream: "JETSYNC"}, []string{"status"}, &out, &errOut); code != cli.ExitOK || !strings.Contains(out.String(), function) {
		t.Errorf("jetsync status as jetsync-tool: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if strings.Contains(logs.String(), "ermission") {
		t.Errorf("a right was missing:\n%s", logs.String())
	}

	// Another function's consumer, made by an administrator (the tool's user).
	tool, err := users["jetsync-tool"].Connect("test", log)
	if err != nil {
		t.Fatal(err)
	}
	defer tool.Close()
	tjs, _ := jetstream.New(tool)
	if _, err := tjs.CreateOrUpdateConsumer(ctx, "JETSYNC", jetstream.ConsumerConfig{Durable: "cars", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}

	// Control: the operator's user reads it.
	if _, err := tjs.Consumer(ctx, "JETSYNC", "cars"); err != nil {
		t.Fatalf("control: the tool's user cannot read the consumer cars: %v", err)
	}

	nc, err := users["jetsync-persons"].Connect("intruder", log)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if c, err := js.Consumer(short, "JETSYNC", "cars"); err == nil {
		if _, err := c.Fetch(1, jetstream.FetchMaxWait(time.Second)); err == nil {
			t.Error("the persons user read the consumer cars")
		}
	}
	if _, err := js.Publish(short, "jetsync.person.9", []byte(`{"v":1}`)); err == nil {
		t.Error("the persons user published into the change stream")
	}
	if _, err := js.CreateStream(short, jetstream.StreamConfig{Name: "MINE", Subjects: []string{"mine.>"}}); err == nil {
		t.Error("the persons user created a stream")
	}
	if err := nc.Publish("jetsync.person.9", []byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	testenv.Eventually(t, 5*time.Second, func() error {
		if !strings.Contains(logs.String(), `Permissions Violation for Publish to \"jetsync.person.9\"`) {
			return fmt.Errorf("no permission violation logged:\n%s", logs.String())
		}
		return nil
	})
}
