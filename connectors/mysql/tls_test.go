package mysql

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jetsync/jetsync/infra/testenv"
)

// TestTLS runs the connector against a MariaDB of the test's own that
// takes TCP connections with TLS only (require_secure_transport) and a
// user that must show a client certificate (REQUIRE X509); the server's
// certificate names localhost only. With the CA and a client certificate
// the sink opens (state tables created over TLS); it refuses the server
// when reached as 127.0.0.1 (the host name is verified) or with another
// CA, and the server refuses no TLS and TLS without a client certificate.
// With JETSYNC_MYSQL_TLS=true and the CA alone, a user that needs no
// client certificate opens.
func TestTLS(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	serverCert, serverKey := ca.Issue(t, "localhost")
	clientCert, clientKey := ca.Issue(t, "jetsync")
	other := testenv.NewCA(t)
	srv := testenv.StartMariaDB(t, ca, serverCert, serverKey)
	for _, q := range []string{
		"CREATE DATABASE jt",
		"CREATE USER 'jetsync'@'%' IDENTIFIED BY 'pw' REQUIRE X509",
		"GRANT ALL ON jt.* TO 'jetsync'@'%'",
		"CREATE USER 'plain'@'%' IDENTIFIED BY 'pw'",
		"GRANT ALL ON jt.* TO 'plain'@'%'",
	} {
		testenv.Exec(t, srv.Root, q)
	}
	port := srv.Addr[strings.LastIndex(srv.Addr, ":")+1:]
	tests := []struct {
		name, host, tls, caFile, cert, key string
		wants                              string // the refusal; "" to open
	}{
		{"private CA, client certificate", "localhost", "false", ca.CertFile, clientCert, clientKey, ""},
		{"host name verified", "127.0.0.1", "false", ca.CertFile, clientCert, clientKey, "127.0.0.1"},
		{"another CA", "localhost", "true", other.CertFile, clientCert, clientKey, "certificate signed by unknown authority"},
		// A user without REQUIRE X509: over TLS it may connect, without
		// TLS MariaDB refuses it (with 1045, as it does for a bad password).
		{"plain user, TLS", "localhost", "true", ca.CertFile, "", "", ""},
		{"plain user, no TLS", "localhost", "false", "", "", "", "Access denied"},
		{"no client certificate", "localhost", "true", ca.CertFile, "", "", "Access denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			user := "jetsync"
			if strings.HasPrefix(tt.name, "plain user") {
				user = "plain"
			}
			cfg := Config{Addr: tt.host + ":" + port, User: user, Password: "pw", Database: "jt", TLS: tt.tls,
				CAFile: tt.caFile, CertFile: tt.cert, KeyFile: tt.key, MaxConns: 1, Timeout: 5 * time.Second}
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
			var name, cipher string
			if err := s.DB().QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil || cipher == "" {
				t.Fatalf("Ssl_cipher %q, %v: not TLS", cipher, err)
			}
		})
	}
}
