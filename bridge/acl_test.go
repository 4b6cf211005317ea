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
	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/bridge/streams"
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
	if err := admin.Do(ctx, args...).Err(); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	if err := admin.FunctionLoadReplace(ctx, Library()).Err(); err != nil { // the administrator's step
		t.Fatal(err)
	}
	return addr, password, admin
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
// answered and committed) is carried, and Redis logged no refused command.
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
			if mode.name == "write-through" {
				// The function's answer: the bridge commits the key and
				// answers the caller, under its own user.
				nc, err := nats.Connect(cfg.NATS.URL)
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				if err := nc.Publish(streams.ReplyRoot+".tok-1", []byte(`{"Status":"done"}`)); err != nil {
					t.Fatal(err)
				}
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
