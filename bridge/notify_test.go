package bridge

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge/streams"
	"github.com/jetsync/jetsync/infra/platform"
	"github.com/jetsync/jetsync/infra/testenv"
)

func TestMissingEvents(t *testing.T) {
	tests := []struct{ flags, need, want string }{
		{"", "Kgh", "Kgh"},
		{"KEA", "Kgh", ""},
		{"AK", "Kghxe", ""},
		{"Kg", "Kgh", "h"},
		{"Eh", "Kgh", "Kg"},
		{"Kgh", "Kghx", "x"},
		{"Kg$lshzxe", "Kgh", ""},
	}
	for _, tt := range tests {
		if got := missingEvents(tt.flags, tt.need); got != tt.want {
			t.Errorf("missingEvents(%q, %q) = %q, want %q", tt.flags, tt.need, got, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	ignore := Config{OnExpired: "ignore", OnEvicted: "ignore"}
	del := Config{OnExpired: "delete", OnEvicted: "delete"}
	tests := []struct {
		cfg   Config
		event string
		want  eventKind
	}{
		{ignore, "hset", writeEvent},
		{ignore, "hdel", writeEvent},
		{ignore, "hincrbyfloat", writeEvent},
		{ignore, "rename_to", writeEvent},
		{ignore, "del", deletionEvent},
		{ignore, "rename_from", deletionEvent},
		{ignore, "expire", skipEvent},
		{ignore, "expired", skipEvent},
		{ignore, "evicted", skipEvent},
		{del, "expired", deletionEvent},
		{del, "evicted", deletionEvent},
		{ignore, "some_future_event", writeEvent},
	}
	for _, tt := range tests {
		if got := tt.cfg.classify(tt.event); got != tt.want {
			t.Errorf("classify(%q) with expiry %s = %v, want %v", tt.event, tt.cfg.OnExpired, got, tt.want)
		}
	}
}

func testConfig(redisAddr, natsURL string, prefixes ...string) Config {
	return Config{
		Redis:          RedisConfig{Addr: redisAddr, ConfigureNotifications: true},
		NATS:           platform.NATSConfig{URL: natsURL},
		StreamConfig:   streams.StreamConfig{Name: testenv.Name("JETSYNC"), MaxAge: time.Hour, MaxBytes: -1, Replicas: 1},
		LogConfig:      platform.LogConfig{Format: "text", Level: "info"},
		Prefixes:       prefixes,
		OnExpired:      "ignore",
		OnEvicted:      "ignore",
		Workers:        2,
		Batch:          64,
		ShutdownGrace:  5 * time.Second,
		Heartbeat:      time.Second,
		PublishTimeout: 2 * time.Second,
		BatchBytes:     8 << 20,
	}
}

// TestNotificationSetting checks notify-keyspace-events on Redis servers of
// the test's own, started with the settings under test.
func TestNotificationSetting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// Not allowed to configure: the bridge probes without CONFIG (renamed
	// away here), on its heartbeat keys, and names the missing classes.
	for _, tt := range []struct{ flags, onExpired, missing string }{
		{"", "ignore", "Kgh$lsz"},
		{"Kg$lsz", "ignore", "h"},
		{"Kgh$l", "delete", "szx"},
		{"Kgh$lsz", "delete", "x"},
		{"Kgh$lsz", "ignore", ""},
		{"KEA", "delete", ""},
	} {
		t.Run(fmt.Sprintf("not allowed to enable, %q, expired %s", tt.flags, tt.onExpired), func(t *testing.T) {
			t.Parallel()
			natsURL := testenv.NATS(t) // every stream takes jetsync.>: one server each
			addr := testenv.RedisServer(t, "--notify-keyspace-events", tt.flags, "--rename-command", "CONFIG", "")
			cfg := testConfig(addr, natsURL, "person")
			cfg.Redis.ConfigureNotifications = false
			cfg.OnExpired = tt.onExpired
			b, err := New(ctx, cfg, testenv.Logger(t))
			if tt.missing == "" {
				if err != nil {
					t.Fatal(err)
				}
				b.rdb.Close()
				b.nc.Close()
				return
			}
			for _, want := range []string{fmt.Sprintf("class %q", tt.missing), "CONFIG SET notify-keyspace-events " + cfg.neededEvents(), "JETSYNC_REDIS_CONFIGURE_NOTIFICATIONS=true"} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("New() = %v, want an error saying %q", err, want)
				}
			}
		})
	}
	t.Run("off and allowed: enabled", func(t *testing.T) {
		natsURL := testenv.NATS(t) // every stream takes jetsync.>: one server each
		addr := testenv.RedisServer(t, "--notify-keyspace-events", "Ex")
		cfg := testConfig(addr, natsURL, "person")
		cfg.OnExpired = "delete"
		b, err := New(ctx, cfg, testenv.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		defer b.rdb.Close()
		defer b.nc.Close()
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		flags := rdb.ConfigGet(ctx, "notify-keyspace-events").Val()["notify-keyspace-events"]
		if missing := missingEvents(flags, "Kgh$lszxE"); missing != "" {
			t.Fatalf("after New, notify-keyspace-events is %q: lacks %q", flags, missing)
		}
	})
	t.Run("CONFIG disabled", func(t *testing.T) {
		natsURL := testenv.NATS(t) // every stream takes jetsync.>: one server each
		addr := testenv.RedisServer(t, "--rename-command", "CONFIG", "")
		_, err := New(ctx, testConfig(addr, natsURL, "person"), testenv.Logger(t))
		if err == nil || !strings.Contains(err.Error(), "CONFIG GET") || !strings.Contains(err.Error(), "JETSYNC_REDIS_CONFIGURE_NOTIFICATIONS=false") {
			t.Fatalf("New() = %v, want an error explaining CONFIG is not allowed", err)
		}
	})
	t.Run("already on", func(t *testing.T) {
		natsURL := testenv.NATS(t) // every stream takes jetsync.>: one server each
		addr := testenv.RedisServer(t, "--notify-keyspace-events", "AK")
		cfg := testConfig(addr, natsURL, "person")
		cfg.Redis.ConfigureNotifications = false
		b, err := New(ctx, cfg, testenv.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		b.rdb.Close()
		b.nc.Close()
	})
}

// TestRedisRestart: a Redis that restarts comes back with its config file's
// notify-keyspace-events (here: off). The bridge sets it again when it may,
// and otherwise reports not ready and counts a gap until someone does; then
// it resyncs, and writes made while it could not hear are carried.
func TestRedisRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		configure bool
		noWatch   bool
	}{
		{"allowed to set notifications", true, false},
		{"not allowed", false, false},
		// The control: without the watch the bridge goes deaf, ready.
		{"control: no watch", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := testenv.StartRedis(t, "--notify-keyspace-events", "KA")
			rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
			defer rdb.Close()
			cfg := testConfig(r.Addr, testenv.NATS(t), "p")
			cfg.Redis.ConfigureNotifications = tc.configure
			cfg.hooks.noNotifyWatch = tc.noWatch
			cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
			rec := runBridge(t, cfg)
			landed := func(key, value string) func() error {
				return func() error {
					all := rec.changes(t, key)
					if len(all) == 0 || all[len(all)-1].Fields["n"] != value {
						return fmt.Errorf("%s=%s not carried", key, value)
					}
					return nil
				}
			}
			rdb.HSet(ctx, "p:before", "n", "1")
			testenv.Eventually(t, 10*time.Second, landed("p:before", "1"))

			r.Restart() // notify-keyspace-events back to its default: off
			if tc.noWatch {
				time.Sleep(3 * time.Second) // resubscribed by now
				rdb.HSet(ctx, "p:after", "n", "2")
				time.Sleep(5 * time.Second)
				if landed("p:after", "2")() == nil {
					t.Fatal("control: carried without the watch; the test cannot tell the watch works")
				}
				if code, body := testenv.HTTPGet("http://" + cfg.HTTPAddr + "/readyz"); code != 200 {
					t.Fatalf("control: /readyz %d %s; want the silent 200 the watch exists for", code, body)
				}
				return
			}
			if tc.configure {
				testenv.Eventually(t, 15*time.Second, func() error {
					rdb.HSet(ctx, "p:after", "n", "2")
					return landed("p:after", "2")()
				})
				rdb.HSet(ctx, "p:after", "n", "3")
				testenv.Eventually(t, 10*time.Second, landed("p:after", "3"))
				return
			}
			// Not allowed: not ready, and a gap counted, while it cannot hear.
			testenv.Eventually(t, 15*time.Second, func() error {
				code, body := testenv.HTTPGet("http://" + cfg.HTTPAddr + "/readyz")
				if code == 200 || !strings.Contains(body, "no keyspace notification came back") {
					return fmt.Errorf("/readyz %d %s", code, body)
				}
				return nil
			})
			_, metrics := testenv.HTTPGet("http://" + cfg.HTTPAddr + "/metrics")
			if g := testenv.MetricValue(metrics, `jetsync_bridge_gaps_total{why="notifications stopped"}`); g < 1 {
				t.Errorf("gaps for stopped notifications: %v, want at least 1", g)
			}
			rdb.HSet(ctx, "p:while-deaf", "n", "4")
			rdb.ConfigSet(ctx, "notify-keyspace-events", "KA") // the operator fixes it
			testenv.Eventually(t, 15*time.Second, landed("p:while-deaf", "4"))
			testenv.Eventually(t, 10*time.Second, func() error {
				if code, body := testenv.HTTPGet("http://" + cfg.HTTPAddr + "/readyz"); code != 200 {
					return fmt.Errorf("/readyz %d %s", code, body)
				}
				return nil
			})
			rdb.HSet(ctx, "p:after", "n", "5")
			testenv.Eventually(t, 10*time.Second, landed("p:after", "5"))
		})
	}
}

// TestOtherHeartbeatsIgnored: bridges on one Redis hear each other's
// heartbeat keys (one subscription pattern for all, as ACLs want it) and
// the probe's keys; none is read or published, nor filed as a dead letter,
// and the bridge's own heartbeat keeps it ready.
func TestOtherHeartbeatsIgnored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr := testenv.RedisServer(t, "--notify-keyspace-events", "Kgh$lsz")
	cfg := testConfig(addr, testenv.NATS(t), "person")
	cfg.Redis.ConfigureNotifications = false // probes at start
	b := startBridge(t, cfg)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	for i := range 20 {
		rdb.Set(ctx, HeartbeatKey("another-bridge"), i, time.Minute)
		rdb.HSet(ctx, HeartbeatKey("another-bridge")+":probe", "f", i)
	}
	rdb.HSet(ctx, "person:1", "n", "1")
	rec := recordStream(t, cfg)
	testenv.Eventually(t, 10*time.Second, rec.carried(t, "person:1", "1"))
	time.Sleep(2 * cfg.Heartbeat)
	for key := range rec.last(t) {
		if key != "person:1" {
			t.Errorf("published a change of %s", key)
		}
	}
	if n := deadLetterCount(t, cfg); n != 0 {
		t.Errorf("%d dead letters", n)
	}
	if err := b.Ready(); err != nil {
		t.Errorf("not ready: %v", err)
	}
}
