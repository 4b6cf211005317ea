package handlers

import (
	"strings"
	"testing"
	"time"

	"github.com/jetsync/jetsync/infra/platform"
)

func validConfig() Config {
	return Config{
		Name: "persons", Version: "1", Prefix: "person", Stream: "JETSYNC",
		NATS:      platform.NATSConfig{URL: "nats://127.0.0.1:4222"},
		LogConfig: platform.LogConfig{Format: "auto", Level: "info"},
		BatchSize: 500, BatchWait: 10 * time.Millisecond, AckWait: 30 * time.Second,
		RetryMax: 30 * time.Second, ShutdownGrace: 10 * time.Second,
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"dotted version", func(c *Config) { c.Version = "2.10.1" }, ""},
		{"name with dot", func(c *Config) { c.Name = "persons.v1" }, "JETSYNC_FUNCTION_NAME"},
		{"empty name", func(c *Config) { c.Name = "" }, "JETSYNC_FUNCTION_NAME"},
		{"bad version", func(c *Config) { c.Version = "v1" }, "JETSYNC_FUNCTION_VERSION"},
		{"prefix with colon", func(c *Config) { c.Prefix = "a:b" }, "JETSYNC_PREFIX"},
		{"zero batch", func(c *Config) { c.BatchSize = 0 }, "JETSYNC_BATCH_SIZE"},
		{"negative wait", func(c *Config) { c.BatchWait = -time.Second }, "JETSYNC_BATCH_WAIT"},
		{"short ack wait", func(c *Config) { c.AckWait = time.Millisecond }, "JETSYNC_ACK_WAIT"},
		{"bad nats url", func(c *Config) { c.NATS.URL = "localhost" }, "JETSYNC_NATS_URL"},
		{"password without user", func(c *Config) { c.NATS.Password = "pw" }, "JETSYNC_NATS_USER"},
		{"missing password file", func(c *Config) { c.NATS.User, c.NATS.PasswordFile = "u", "/nonexistent/pw" }, "JETSYNC_NATS_PASSWORD_FILE"},
		{"bad log level", func(c *Config) { c.Level = "loud" }, "JETSYNC_LOG_LEVEL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1", "1", 0}, {"1", "2", -1}, {"2", "1", 1}, {"2", "2.0", 0},
		{"2.10", "2.9", 1}, {"1.2.3", "1.2.4", -1}, {"10", "9.9.9", 1},
	}
	for _, tt := range tests {
		a, err := parseVersion(tt.a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := parseVersion(tt.b)
		if err != nil {
			t.Fatal(err)
		}
		if got := compareVersions(a, b); got != tt.want {
			t.Errorf("compareVersions(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
