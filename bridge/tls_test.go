package bridge

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/infra/testenv"
)

// TestRedisTLS runs the bridge against a redis-server of its own that
// takes TLS only from clients with a certificate of the test's CA
// (--tls-auth-clients yes; its plain port is the administrator's): with
// the CA and a client certificate it carries a write; it refuses a server
// whose certificate names another host or comes from another CA, and the
// server refuses a bridge without a client certificate.
func TestRedisTLS(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	serverCert, serverKey := ca.Issue(t, "localhost", "127.0.0.1")
	wrongCert, wrongKey := ca.Issue(t, "redis.example.com")
	clientCert, clientKey := ca.Issue(t, "jetsync-bridge")
	other := testenv.NewCA(t)
	start := func(cert, key string) string {
		port := testenv.FreePort(t)
		testenv.RedisServer(t, "--tls-port", fmt.Sprint(port), "--tls-cert-file", cert, "--tls-key-file", key,
			"--tls-ca-cert-file", ca.CertFile, "--tls-auth-clients", "yes", "--notify-keyspace-events", "Kgh$lsz")
		return fmt.Sprintf("127.0.0.1:%d", port)
	}
	good := start(serverCert, serverKey)
	tests := []struct {
		name, addr, caFile, cert, key string
		wants                         string // the refusal; "" to carry a write
	}{
		{"private CA, client certificate", good, ca.CertFile, clientCert, clientKey, ""},
		{"host name verified", "localhost:" + strings.Split(good, ":")[1], ca.CertFile, clientCert, clientKey, ""},
		{"no client certificate", good, ca.CertFile, "", "", "connect to Redis"},
		{"another CA", good, other.CertFile, clientCert, clientKey, "certificate signed by unknown authority"},
		{"certificate of another host", "localhost:" + strings.Split(start(wrongCert, wrongKey), ":")[1], ca.CertFile, clientCert, clientKey, "valid for redis.example.com, not localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(tt.addr, testenv.NATS(t), "person")
			cfg.Redis.TLS, cfg.Redis.CAFile, cfg.Redis.CertFile, cfg.Redis.KeyFile = true, tt.caFile, tt.cert, tt.key
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			if tt.wants != "" {
				_, err := New(context.Background(), cfg, testenv.Logger(t))
				if err == nil || !strings.Contains(err.Error(), tt.wants) {
					t.Fatalf("New() = %v, want a refusal saying %q", err, tt.wants)
				}
				return
			}
			rec := runBridge(t, cfg)
			rdb := cfg.Redis.Client(1, testenv.Logger(t))
			defer rdb.Close()
			if err := rdb.HSet(context.Background(), "person:1", "n", "1").Err(); err != nil {
				t.Fatal(err)
			}
			rec.waitFor(t, "person:1", func(last change.Change, _ []change.Change) error {
				if last.Fields["n"] != "1" {
					return fmt.Errorf("person:1: %v", last.Fields)
				}
				return nil
			})
		})
	}
}
