package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jetsync/jetsync/infra/testenv"
)

// TestTLS runs the connector against a PostgreSQL of the test's own that
// takes TCP connections with TLS and a client certificate only (hostssl,
// clientcert=verify-full); the server's certificate names localhost only.
// With the CA and a client certificate the sink opens over TLS; it refuses
// the server when reached as 127.0.0.1 (the host name is verified) or with
// another CA, and the server refuses no TLS and no client certificate.
func TestTLS(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	serverCert, serverKey := ca.Issue(t, "localhost")
	clientCert, clientKey := ca.Issue(t, "postgres")
	other := testenv.NewCA(t)
	srv := testenv.StartPostgres(t, ca, serverCert, serverKey)
	testenv.Exec(t, srv.Root, "CREATE DATABASE jt")
	port := srv.Addr[strings.LastIndex(srv.Addr, ":")+1:]
	tests := []struct {
		name, host, mode, caFile, cert, key string
		wants                               string // the refusal; "" to open
	}{
		{"private CA, client certificate", "localhost", "prefer", ca.CertFile, clientCert, clientKey, ""},
		{"host name verified", "127.0.0.1", "verify-full", ca.CertFile, clientCert, clientKey, "127.0.0.1"},
		{"another CA", "localhost", "prefer", other.CertFile, clientCert, clientKey, "certificate signed by unknown authority"},
		{"no client certificate", "localhost", "verify-full", ca.CertFile, "", "", "certificate"},
		{"no TLS", "localhost", "disable", "", "", "", "no encryption"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{Addr: tt.host + ":" + port, User: "postgres", Database: "jt", SSLMode: tt.mode,
				CAFile: tt.caFile, CertFile: tt.cert, KeyFile: tt.key, MaxConns: 1, Timeout: 5 * time.Second}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := Open(ctx, cfg, testenv.QuietLogger(t))
			if tt.wants != "" {
				if err == nil {
					s.Close()
					t.Fatalf("opened; want a refusal saying %q", tt.wants)
				}
				if !strings.Contains(err.Error(), tt.wants) || ctx.Err() != nil {
					t.Fatalf("Open() = %v (context %v), want a refusal saying %q at once", err, ctx.Err(), tt.wants)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var ssl bool
			if err := s.Pool().QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
				t.Fatalf("ssl %v, %v: not TLS", ssl, err)
			}
		})
	}
}
