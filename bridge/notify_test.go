package bridge

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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
		Redis:         RedisConfig{Addr: redisAddr, ConfigureNotifications: true},
		NATS:          platform.NATSConfig{URL: natsURL},
		StreamConfig:  platform.StreamConfig{Name: testenv.Name("JETSYNC"), MaxAge: time.Hour, MaxBytes: -1, Replicas: 1},
		LogConfig:     platform.LogConfig{Format: "text", Level: "info"},
		Prefixes:      prefixes,
		OnExpired:     "ignore",
		OnEvicted:     "ignore",
		Workers:       2,
		Batch:         64,
		ShutdownGrace: 5 * time.Second,
	}
}

// TestNotificationSetting checks notify-keyspace-events on Redis servers of
// the test's own, started with the settings under test.
func TestNotificationSetting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("off and not allowed to enable", func(t *testing.T) {
		natsURL := testenv.NATS(t) // every stream takes jetsync.>: one server each
		addr := testenv.RedisServer(t, "--notify-keyspace-events", "")
		cfg := testConfig(addr, natsURL, "person")
		cfg.Redis.ConfigureNotifications = false
		_, err := New(ctx, cfg, testenv.Logger(t))
		for _, want := range []string{`notify-keyspace-events ""`, `needs "Kgh$lsz"`, "CONFIG SET notify-keyspace-events Kgh$lsz", "JETSYNC_REDIS_CONFIGURE_NOTIFICATIONS=true"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("New() = %v, want an error saying %q", err, want)
			}
		}
	})
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
