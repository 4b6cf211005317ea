package bridge

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no prefixes", func(c *Config) { c.Prefixes = nil }, "JETSYNC_PREFIXES is empty"},
		{"prefix with dot", func(c *Config) { c.Prefixes = []string{"a.b"} }, "JETSYNC_PREFIXES"},
		{"prefix twice", func(c *Config) { c.Prefixes = []string{"a", "a"} }, "names \"a\" twice"},
		{"bad expiry", func(c *Config) { c.OnExpired = "drop" }, "JETSYNC_ON_EXPIRED"},
		{"bad eviction", func(c *Config) { c.OnEvicted = "" }, "JETSYNC_ON_EVICTED"},
		{"no workers", func(c *Config) { c.Workers = 0 }, "JETSYNC_WORKERS"},
		{"huge batch", func(c *Config) { c.Batch = 1e6 }, "JETSYNC_BATCH"},
		{"redis addr without port", func(c *Config) { c.Redis.Addr = "localhost" }, "JETSYNC_REDIS_ADDR"},
		{"negative db", func(c *Config) { c.Redis.DB = -1 }, "JETSYNC_REDIS_DB"},
		{"password twice", func(c *Config) { c.Redis.Password, c.Redis.PasswordFile = "x", "/f" }, "both set"},
		{"missing CA", func(c *Config) { c.Redis.TLS, c.Redis.CAFile = true, "/nonexistent/ca.pem" }, "JETSYNC_REDIS_CA_FILE"},
		{"bad stream name", func(c *Config) { c.StreamConfig.Name = "a.b" }, "JETSYNC_STREAM"},
		{"zero max bytes", func(c *Config) { c.MaxBytes = 0 }, "JETSYNC_STREAM_MAX_BYTES"},
		{"negative max age", func(c *Config) { c.MaxAge = -1 }, "JETSYNC_STREAM_MAX_AGE"},
		{"bad nats url", func(c *Config) { c.NATS.URL = "" }, "JETSYNC_NATS_URL"},
		{"bad log format", func(c *Config) { c.Format = "xml" }, "JETSYNC_LOG_FORMAT"},
		{"rgsync on an unknown prefix", func(c *Config) { c.Rgsync = []string{"nope"} }, `JETSYNC_RGSYNC names "nope", which is not in JETSYNC_PREFIXES`},
		{"rgsync on a json prefix", func(c *Config) { c.Prefixes, c.Rgsync = []string{"s:json"}, []string{"s"} }, `JETSYNC_RGSYNC names "s", a json prefix`},
		{"rgsync on a cluster", func(c *Config) { c.Redis.Cluster, c.Rgsync = true, []string{"*"} }, "JETSYNC_RGSYNC need a standalone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig("127.0.0.1:6379", "nats://127.0.0.1:4222", "person", "car")
			tt.change(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}
