package platform

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/jetsync/jetsync/infra/testenv"
)

// tlsNATS starts an embedded nats-server that takes TLS only, with a
// certificate (cert, key), verifying client certificates of ca, and
// returns its port.
func tlsNATS(t *testing.T, ca *testenv.CA, cert, key string) int {
	t.Helper()
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cert, KeyFile: key, CaFile: ca.CertFile, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
		JetStream: true, StoreDir: t.TempDir(), TLS: true, TLSVerify: true, TLSConfig: tc, TLSTimeout: 2})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server with TLS did not start")
	}
	return s.Addr().(*net.TCPAddr).Port
}

// TestNATSTLS connects to an embedded nats-server that takes TLS only and
// verifies client certificates of the test's CA: with the CA and a client
// certificate it connects; it refuses a server whose certificate names
// another host or comes from another CA, and the server refuses a client
// without a certificate.
func TestNATSTLS(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	serverCert, serverKey := ca.Issue(t, "localhost", "127.0.0.1")
	wrongCert, wrongKey := ca.Issue(t, "nats.example.com")
	clientCert, clientKey := ca.Issue(t, "jetsync-bridge")
	other := testenv.NewCA(t)
	good := tlsNATS(t, ca, serverCert, serverKey)
	wrong := tlsNATS(t, ca, wrongCert, wrongKey)
	tests := []struct {
		name, url, caFile, cert, key string
		wants                        string // the refusal; "" to connect
	}{
		{"private CA, client certificate", fmt.Sprintf("tls://127.0.0.1:%d", good), ca.CertFile, clientCert, clientKey, ""},
		{"host name", fmt.Sprintf("tls://localhost:%d", good), ca.CertFile, clientCert, clientKey, ""},
		{"nats:// upgraded", fmt.Sprintf("nats://localhost:%d", good), ca.CertFile, clientCert, clientKey, ""},
		{"no client certificate", fmt.Sprintf("tls://localhost:%d", good), ca.CertFile, "", "", "connect to NATS"},
		{"another CA", fmt.Sprintf("tls://localhost:%d", good), other.CertFile, clientCert, clientKey, "certificate signed by unknown authority"},
		{"certificate of another host", fmt.Sprintf("tls://localhost:%d", wrong), ca.CertFile, clientCert, clientKey, "valid for nats.example.com, not localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := NATSConfig{URL: tt.url, CAFile: tt.caFile, CertFile: tt.cert, KeyFile: tt.key}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			nc, err := c.Connect("test", slog.New(slog.DiscardHandler))
			switch {
			case tt.wants == "" && err != nil:
				t.Fatal(err)
			case tt.wants == "":
				defer nc.Close()
				if _, err := nc.TLSConnectionState(); err != nil {
					t.Fatalf("not a TLS connection: %v", err)
				}
			case err == nil:
				nc.Close()
				t.Fatalf("connected; want a refusal saying %q", tt.wants)
			case !strings.Contains(err.Error(), tt.wants):
				t.Fatalf("Connect() = %v, want a refusal saying %q", err, tt.wants)
			}
		})
	}
}

// TestTLSFilesValidate: a certificate without its key, a CA file without a
// certificate and files that are not a pair are refused at start, naming
// the variables.
func TestTLSFilesValidate(t *testing.T) {
	ca := testenv.NewCA(t)
	cert, key := ca.Issue(t, "a")
	cert2, _ := ca.Issue(t, "b")
	for _, tt := range []struct {
		f     TLSFiles
		wants string
	}{
		{TLSFiles{Var: "JETSYNC_X", CertFile: cert}, "JETSYNC_X_CERT_FILE and JETSYNC_X_KEY_FILE go together"},
		{TLSFiles{Var: "JETSYNC_X", CAFile: key}, "JETSYNC_X_CA_FILE"},
		{TLSFiles{Var: "JETSYNC_X", CertFile: cert2, KeyFile: key}, "not a certificate and its key"},
	} {
		if err := tt.f.Validate(); err == nil || !strings.Contains(err.Error(), tt.wants) {
			t.Errorf("%+v: %v, want %q", tt.f, err, tt.wants)
		}
	}
	if err := (TLSFiles{Var: "JETSYNC_X", CAFile: ca.CertFile, CertFile: cert, KeyFile: key}).Validate(); err != nil {
		t.Fatal(err)
	}
}
