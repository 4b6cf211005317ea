package bridge

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/bridge/streams"
	"github.com/jetsync/jetsync/bridge/writethrough"
	"github.com/jetsync/jetsync/infra/platform"
	"github.com/jetsync/jetsync/infra/testenv"
)

// readmeACLs reads the ACL SETUSER lines of the README's Security section:
// each user's arguments, split as redis-cli splits them.
func readmeACLs(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	word := regexp.MustCompile(`"[^"]*"|\S+`)
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "ACL SETUSER ") {
			continue
		}
		var args []any
		for _, w := range word.FindAllString(line, -1) {
			args = append(args, strings.Trim(w, `"`))
		}
		out[args[2].(string)] = nil
		for _, a := range args {
			out[args[2].(string)] = append(out[args[2].(string)], a.(string))
		}
	}
	for _, user := range []string{"jetsync-bridge", "jetsync-bridge-journal", "jetsync-bridge-wt"} {
		if out[user] == nil {
			t.Fatalf("README: no ACL SETUSER line for %s", user)
		}
	}
	return out
}

// aclServer starts a redis-server of the test's own whose notifications an
// administrator has set, creates user with acl (README arguments, minus
// the rights in drop) and returns its address and the user's password.
func aclServer(t *testing.T, acl []string, drop ...string) (addr, password string, admin *redis.Client) {
	t.Helper()
	ctx := context.Background()
	addr = testenv.RedisServer(t, "--notify-keyspace-events", "Kgh$lsz")
	admin = redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { admin.Close() })
	password = createUser(t, admin, acl, drop...)
	if err := admin.FunctionLoadReplace(ctx, Library()).Err(); err != nil { // the administrator's step
		t.Fatal(err)
	}
	return addr, password, admin
}

// createUser runs an ACL SETUSER line (minus the rights in drop) and
// returns the user's password.
func createUser(t *testing.T, admin *redis.Client, acl []string, drop ...string) (password string) {
	t.Helper()
	var args []any
	for _, a := range acl {
		for _, d := range drop {
			a = strings.TrimSpace(strings.ReplaceAll(a, d, ""))
		}
		if a == "" {
			continue
		}
		if strings.HasPrefix(a, ">") {
			password = a[1:]
		}
		args = append(args, a)
	}
	if err := admin.Do(context.Background(), args...).Err(); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return password
}

// aclDenials returns the ACL LOG of user.
func aclDenials(t *testing.T, admin *redis.Client, user string) []string {
	t.Helper()
	entries, err := admin.Do(context.Background(), "ACL", "LOG").Slice()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if m, ok := e.(map[any]any); ok && m["username"] == user {
			out = append(out, fmt.Sprintf("%v %v %v", m["reason"], m["object"], m["context"]))
		}
	}
	return out
}

// TestMinimalRedisUsers runs the bridge in each mode under exactly the
// ACL user the README's Security section gives (parsed from it), on a
// redis-server of its own whose notifications and function library an
// administrator set up: a write (a journaled write, a write-through call
// answered and committed) is carried, a hash too large for a change is
// measured and dead-lettered, and Redis logged no refused command.
// Control: the same users with JETSYNC_REDIS_CONFIGURE_NOTIFICATIONS=true
// (the bridge reads CONFIG) fail at start, naming config|get.
func TestMinimalRedisUsers(t *testing.T) {
	t.Parallel()
	acls := readmeACLs(t)
	modes := []struct{ name, user string }{
		{"notification", "jetsync-bridge"},
		{"journal", "jetsync-bridge-journal"},
		{"write-through", "jetsync-bridge-wt"},
	}
	for _, mode := range modes {
		testenv.WithControl(t, mode.name, mode.name+" with CONFIG", func(t *testing.T, control bool) {
			ctx := context.Background()
			addr, pw, admin := aclServer(t, acls[mode.user])
			cfg := testConfig(addr, testenv.NATS(t), "person")
			cfg.Redis.Username, cfg.Redis.Password = mode.user, platform.Secret(pw)
			cfg.Redis.ConfigureNotifications = control
			switch mode.name {
			case "journal":
				cfg.Journal = []string{"person"}
			case "write-through":
				cfg.WriteThrough = []string{"person"}
			}
			if control {
				_, err := New(ctx, cfg, testenv.Logger(t))
				if err == nil || !strings.Contains(err.Error(), `the Redis user "`+mode.user+`" may not run config|get`) {
					t.Fatalf("control: New() = %v, want a refused CONFIG GET named", err)
				}
				return
			}
			admin.HSet(ctx, "person:0", "n", "0") // before the start: found by the resync
			// Read after the bridge stopped (and handed over).
			t.Cleanup(func() {
				if d := aclDenials(t, admin, mode.user); len(d) > 0 {
					t.Errorf("Redis refused commands of %s: %v", mode.user, d)
				}
			})
			rec := runBridge(t, cfg)
			rec.waitFor(t, "person:0", func(last change.Change, _ []change.Change) error { return nil })
			switch mode.name {
			case "notification":
				big := make([]any, 0, 2200)
				for i := 0; i < 1100; i++ {
					big = append(big, fmt.Sprintf("f%d", i), strings.Repeat("x", 1000))
				}
				// Too large for a change, and of more than 1000 fields: the
				// bridge measures it (HLEN, HSCAN) and dead-letters it.
				admin.HSet(ctx, "person:big", big...)
				admin.HSet(ctx, "person:1", "n", "1")
				admin.Del(ctx, "person:0")
			case "journal":
				admin.FCall(ctx, "jetsync_hset", []string{"person:1"}, "n", "1")
				admin.FCall(ctx, "jetsync_del", []string{"person:0"})
			case "write-through":
				admin.FCall(ctx, "jetsync_write_through", []string{"person:1"}, "tok-1", "n", "1")
				admin.Del(ctx, "person:0")
			}
			testenv.Eventually(t, 10*time.Second, rec.carried(t, "person:1", "1"))
			rec.waitFor(t, "person:0", func(last change.Change, _ []change.Change) error {
				if last.Op != change.Delete {
					return fmt.Errorf("person:0: %s, want a delete", last.Op)
				}
				return nil
			})
			if mode.name == "notification" {
				waitDeadLetters(t, cfg, map[string]string{"jetsync-dlq.bridge.person.big": "max_payload"})
			}
			if mode.name == "write-through" {
				// The function's answer: the bridge commits the key and
				// answers the caller, under its own user.
				answerAs(t, cfg, "persons", "person", "tok-1")
				testenv.Eventually(t, 10*time.Second, func() error {
					reply, err := admin.XRange(ctx, "jetsync:reply:tok-1", "-", "+").Result()
					if err != nil || len(reply) == 0 || reply[0].Values["status"] != "done" || admin.HGet(ctx, "person:1", "n").Val() != "1" {
						return fmt.Errorf("reply %v (%v), person:1 n=%q", reply, err, admin.HGet(ctx, "person:1", "n").Val())
					}
					return nil
				})
			}
		})
	}
}

// syncBuffer is a bytes.Buffer for a logger written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMissingRedisRightIsNamed: a user lacking one right of the README's
// line gets an error naming the user, the command and the key or channel.
func TestMissingRedisRightIsNamed(t *testing.T) {
	t.Parallel()
	acls := readmeACLs(t)
	ctx := context.Background()
	t.Run("heartbeat channel", func(t *testing.T) {
		t.Parallel()
		addr, pw, _ := aclServer(t, acls["jetsync-bridge"], "&__keyspace@0__:jetsync:heartbeat:*")
		cfg := testConfig(addr, testenv.NATS(t), "person")
		cfg.Redis.Username, cfg.Redis.Password, cfg.Redis.ConfigureNotifications = "jetsync-bridge", platform.Secret(pw), false
		_, err := New(ctx, cfg, testenv.Logger(t))
		if err == nil || !strings.Contains(err.Error(), `the Redis user "jetsync-bridge" may not run psubscribe __keyspace@0__:jetsync:heartbeat:*`) {
			t.Fatalf("New() = %v, want the refused PSUBSCRIBE named", err)
		}
	})
	t.Run("read of a key", func(t *testing.T) {
		t.Parallel()
		addr, pw, admin := aclServer(t, acls["jetsync-bridge"], "+hgetall")
		cfg := testConfig(addr, testenv.NATS(t), "person")
		cfg.Redis.Username, cfg.Redis.Password, cfg.Redis.ConfigureNotifications = "jetsync-bridge", platform.Secret(pw), false
		var logs syncBuffer
		b, err := New(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- b.Run(runCtx) }()
		defer func() { cancel(); <-done }()
		admin.HSet(ctx, "person:7", "n", "7")
		testenv.Eventually(t, 10*time.Second, func() error {
			if !strings.Contains(logs.String(), `the Redis user \"jetsync-bridge\" may not run hgetall person:7`) {
				return fmt.Errorf("no log names the refused HGETALL:\n%s", logs.String())
			}
			return nil
		})
	})
	t.Run("library not loaded", func(t *testing.T) {
		t.Parallel()
		addr, pw, admin := aclServer(t, acls["jetsync-bridge-journal"])
		admin.FunctionDelete(ctx, "jetsync")
		cfg := testConfig(addr, testenv.NATS(t), "person")
		cfg.Redis.Username, cfg.Redis.Password, cfg.Redis.ConfigureNotifications = "jetsync-bridge-journal", platform.Secret(pw), false
		cfg.Journal = []string{"person"}
		_, err := New(ctx, cfg, testenv.Logger(t))
		for _, want := range []string{`may not run function|load`, "jetsync-bridge library | redis-cli -x FUNCTION LOAD REPLACE"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("New() = %v, want it to say %q", err, want)
			}
		}
	})
}

// aclFor is the README's line of user with every "app1" (its name, its
// token prefix, its password) replaced by name.
func aclFor(line []string, name string) []string {
	out := make([]string, len(line))
	for i, a := range line {
		out[i] = strings.ReplaceAll(a, "app1", name)
	}
	return out
}

// TestWriteThroughCannotBeForged: callers app1 and app2 get the README's
// caller user (app2 the same line with its own name) on a redis-server of
// the test's own, and the bridge its write-through user. While app1's call
// waits for the database, app2 tries to read the staged writes and app1's
// answer, to answer it, to commit it and to stage with app1's tokens; app1
// tries to commit its own call. Every attempt is refused, the key keeps
// its value and app1 still waits; the function's answer then completes it.
// Control: a caller with the rights the functions once needed (~jetsync:*)
// commits app1's call, which returns done while the database has nothing.
func TestWriteThroughCannotBeForged(t *testing.T) {
	t.Parallel()
	acls := readmeACLs(t)
	testenv.WithControl(t, "caller rights", "~jetsync:*", func(t *testing.T, control bool) {
		ctx := context.Background()
		addr, pw, admin := aclServer(t, acls["jetsync-bridge-wt"])
		caller := func(name string) *redis.Client {
			line := aclFor(acls["app1"], name)
			if control {
				for i, a := range line {
					if strings.Contains(a, "~jetsync:") {
						line[i] = "~jetsync:*"
					}
				}
			}
			pw := createUser(t, admin, line)
			c := redis.NewClient(&redis.Options{Addr: addr, Username: name, Password: pw})
			t.Cleanup(func() { c.Close() })
			return c
		}
		app1, app2 := caller("app1"), caller("app2")
		cfg := testConfig(addr, testenv.NATS(t), "person")
		cfg.Redis.Username, cfg.Redis.Password, cfg.Redis.ConfigureNotifications = "jetsync-bridge-wt", platform.Secret(pw), false
		cfg.WriteThrough = []string{"person"}
		rec := runBridge(t, cfg)
		admin.HSet(ctx, "person:1", "n", "0")
		rec.waitFor(t, "person:1", func(change.Change, []change.Change) error { return nil })

		wt := writethrough.New(app1)
		wt.TokenPrefix = "app1-"
		wt.Timeout = 20 * time.Second
		done := make(chan error, 1)
		go func() { done <- wt.HSet(ctx, "person:1", "n", "1") }()
		var token string
		testenv.Eventually(t, 5*time.Second, func() error {
			select {
			case err := <-done:
				t.Fatalf("app1's call returned at once: %v", err)
			default:
			}
			keys, _ := admin.Keys(ctx, "jetsync:wt:pending:*").Result()
			if len(keys) != 1 {
				return fmt.Errorf("staged: %v", keys)
			}
			token = strings.TrimPrefix(keys[0], "jetsync:wt:pending:")
			return nil
		})
		attempts := []struct {
			who  *redis.Client
			what string
			cmd  []any
		}{
			{app2, "read the staged writes", []any{"XRANGE", "jetsync:wt:person", "-", "+"}},
			{app2, "read app1's staged write", []any{"HGETALL", "jetsync:wt:pending:" + token}},
			{app2, "read app1's answer", []any{"XREAD", "STREAMS", "jetsync:reply:" + token, "0"}},
			{app2, "forge app1's answer", []any{"XADD", "jetsync:reply:" + token, "*", "status", "done", "error", ""}},
			{app2, "commit app1's call", []any{"FCALL", "jetsync_wt_commit", "0", token, "done"}},
			{app2, "stage with app1's tokens", []any{"FCALL", "jetsync_write_through", "1", "person:2", "app1-mine", "n", "2"}},
			{app1, "commit its own call", []any{"FCALL", "jetsync_wt_commit", "0", token, "done"}},
		}
		refused := 0
		for _, a := range attempts {
			err := a.who.Do(ctx, a.cmd...).Err()
			if err != nil && (strings.Contains(err.Error(), "NOPERM") || strings.Contains(err.Error(), "The user executing the script can't")) {
				refused++
				continue
			}
			if !control {
				t.Errorf("a caller could %s (%v)", a.what, err)
			}
		}
		select {
		case err := <-done:
			if !control {
				t.Fatalf("app1's call returned %v before the function answered", err)
			}
			if err != nil || admin.HGet(ctx, "person:1", "n").Val() != "1" {
				t.Fatalf("control: app1's call returned %v, person:1 n=%q", err, admin.HGet(ctx, "person:1", "n").Val())
			}
			t.Logf("control: %d of %d attempts refused; app1's call was committed by another caller, without the database", refused, len(attempts))
			return
		case <-time.After(time.Second):
			if control {
				t.Fatalf("control: app1's call still waits; %d of %d attempts refused", refused, len(attempts))
			}
		}
		if v := admin.HGet(ctx, "person:1", "n").Val(); v != "0" {
			t.Fatalf("person:1 n=%q after the attempts, want 0", v)
		}
		// The function's answer: the bridge commits and answers app1.
		answerAs(t, cfg, "persons", "person", token)
		if err := <-done; err != nil || admin.HGet(ctx, "person:1", "n").Val() != "1" {
			t.Fatalf("after the answer: %v, person:1 n=%q", err, admin.HGet(ctx, "person:1", "n").Val())
		}
	})
}

// answerAs answers token "done" as the function named function, whose
// consumer of the stream of cfg takes prefix's changes (created if need be).
func answerAs(t *testing.T, cfg Config, function, prefix, token string) {
	t.Helper()
	ctx := context.Background()
	nc, err := nats.Connect(cfg.NATS.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateOrUpdateConsumer(ctx, cfg.StreamConfig.Name, jetstream.ConsumerConfig{
		Durable: function, FilterSubject: change.Filter(prefix), AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, streams.ReplySubject(function, token), []byte(`{"Status":"done"}`)); err != nil {
		t.Fatal(err)
	}
}

// TestForeignFunctionCannotAnswer: a write-through call on person:1 is
// answered "done" first by the function cars (its consumer takes car:
// changes), which the bridge ignores: the key keeps its value and the
// caller has no answer; the answer of persons then completes it. Control:
// without the check (noAnswerCheck) cars's answer commits the call.
func TestForeignFunctionCannotAnswer(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "answers checked", "any function answers", func(t *testing.T, control bool) {
		ctx := context.Background()
		addr := testenv.RedisServer(t, "--notify-keyspace-events", "Kgh$lsz")
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		cfg := testConfig(addr, testenv.NATS(t), "person", "car")
		cfg.WriteThrough = []string{"*"}
		cfg.hooks.noAnswerCheck = control
		runBridge(t, cfg)
		rdb.HSet(ctx, "person:1", "n", "0")
		if err := rdb.FCall(ctx, "jetsync_write_through", []string{"person:1"}, "tok-1", "n", "1").Err(); err != nil {
			t.Fatal(err)
		}
		answered := func() bool { return rdb.XLen(ctx, "jetsync:reply:tok-1").Val() > 0 }
		time.Sleep(500 * time.Millisecond) // the bridge has read the staged call
		answerAs(t, cfg, "cars", "car", "tok-1")
		time.Sleep(time.Second)
		if control {
			if !answered() || rdb.HGet(ctx, "person:1", "n").Val() != "1" {
				t.Fatalf("control: cars's answer did not commit the call (n=%q)", rdb.HGet(ctx, "person:1", "n").Val())
			}
			return
		}
		if answered() || rdb.HGet(ctx, "person:1", "n").Val() != "0" {
			t.Fatalf("cars answered a person call: answered %v, n=%q", answered(), rdb.HGet(ctx, "person:1", "n").Val())
		}
		answerAs(t, cfg, "persons", "person", "tok-1")
		testenv.Eventually(t, 10*time.Second, func() error {
			if !answered() || rdb.HGet(ctx, "person:1", "n").Val() != "1" {
				return fmt.Errorf("persons's answer: answered %v, n=%q", answered(), rdb.HGet(ctx, "person:1", "n").Val())
			}
			return nil
		})
	})
}
