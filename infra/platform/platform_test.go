package platform

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestSecretSource(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		src     SecretSource
		want    string
		wantErr string
	}{
		{"literal", SecretSource{Name: "X", Literal: "lit"}, "lit", ""},
		{"file, newline dropped", SecretSource{Name: "X", File: file}, "s3cret", ""},
		{"none", SecretSource{Name: "X"}, "", ""},
		{"missing file", SecretSource{Name: "X", File: filepath.Join(dir, "nope")}, "", "X_FILE: cannot read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.src.Read()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Read() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Read() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if err := (SecretSource{Name: "X", Literal: "a", File: file}).Validate(); err == nil || !strings.Contains(err.Error(), "X and X_FILE are both set") {
		t.Fatalf("Validate with both = %v", err)
	}
	// A file rotated in place is read again.
	if err := os.WriteFile(file, []byte("rotated"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := (SecretSource{Name: "X", File: file}).Read(); got != "rotated" {
		t.Fatalf("after rotation Read() = %q", got)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	cfg := NATSConfig{URL: "nats://h:4222", User: "u", Password: "hunter2", Token: "tok3n"}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("config", "cfg", cfg)
	for _, s := range []string{fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), b.String()} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "tok3n") {
			t.Fatalf("secret printed: %s", s)
		}
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	prevMax := time.Duration(0)
	for i := range 40 {
		d := b.Next()
		ceiling := min(100*time.Millisecond<<min(i, 20), time.Second)
		if d < ceiling/2 || d > ceiling {
			t.Fatalf("attempt %d: %s outside [%s, %s]", i, d, ceiling/2, ceiling)
		}
		prevMax = max(prevMax, d)
	}
	if prevMax > time.Second {
		t.Fatalf("backoff exceeded its cap: %s", prevMax)
	}
}

func TestServerVersion(t *testing.T) {
	tests := []struct {
		v  string
		ok bool
	}{{"2.10.0", true}, {"2.12.1", true}, {"3.0.0", true}, {"2.9.25", false}, {"1.4.1", false}, {"", false}, {"x.y", false}}
	for _, tt := range tests {
		if got := AtLeast(tt.v, minServer); got != tt.ok {
			t.Errorf("AtLeast(%q) = %v, want %v", tt.v, got, tt.ok)
		}
	}
}

// TestOldServerRefused connects to the machine's system NATS on 4222, which
// is 2.9 on these machines, and expects a clear refusal.
func TestOldServerRefused(t *testing.T) {
	nc, err := nats.Connect("nats://127.0.0.1:4222")
	if err != nil {
		t.Skipf("no NATS server on 127.0.0.1:4222 to try: %v", err)
	}
	v := nc.ConnectedServerVersion()
	nc.Close()
	if AtLeast(v, minServer) {
		t.Skipf("the NATS server on 127.0.0.1:4222 is %s, new enough; nothing to refuse", v)
	}
	_, err = NATSConfig{URL: "nats://127.0.0.1:4222"}.Connect("test", slog.Default())
	if err == nil || !strings.Contains(err.Error(), "needs 2.10 or newer") || !strings.Contains(err.Error(), v) {
		t.Fatalf("Connect to nats-server %s = %v, want a refusal naming the versions", v, err)
	}
}

// TestMetricsBasicAuth: with JETSYNC_HTTP_USER and a password file,
// /metrics needs them (the file is read at every request) while /healthz
// stays open; without a user (the control) /metrics is open to anyone.
func TestMetricsBasicAuth(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	get := func(addr, path, user, pw string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	serve := func(c HTTPConfig) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.HTTPAddr = ln.Addr().String()
		ln.Close()
		stop, err := c.Serve(NewRegistry(), func() error { return nil }, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		for range 50 {
			if c, err := net.Dial("tcp", c.HTTPAddr); err == nil {
				c.Close()
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		return c.HTTPAddr
	}
	addr := serve(HTTPConfig{HTTPUser: "prom", HTTPPasswordFile: file})
	for _, tt := range []struct {
		path, user, pw string
		want           int
	}{
		{"/metrics", "", "", 401},
		{"/metrics", "prom", "wrong", 401},
		{"/metrics", "other", "s3cret", 401},
		{"/metrics", "prom", "s3cret", 200},
		{"/healthz", "", "", 200},
		{"/readyz", "", "", 200},
	} {
		if got := get(addr, tt.path, tt.user, tt.pw); got != tt.want {
			t.Errorf("GET %s as %q/%q: %d, want %d", tt.path, tt.user, tt.pw, got, tt.want)
		}
	}
	if err := os.WriteFile(file, []byte("rotated"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := get(addr, "/metrics", "prom", "rotated"); got != 200 {
		t.Errorf("after rotation: %d", got)
	}
	if got := get(serve(HTTPConfig{}), "/metrics", "", ""); got != 200 {
		t.Fatalf("control: without a user /metrics gave %d", got)
	}
	for _, bad := range []HTTPConfig{{HTTPUser: "prom"}, {HTTPPassword: "x"}, {HTTPUser: "u", HTTPPassword: "x", HTTPPasswordFile: file}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
