package platform

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLSFiles are the files of a client's TLS: the CAs to trust (PEM; empty:
// the system's) and, for mutual TLS, a client certificate and its key. The
// key is a secret, so it is only ever a file (a mounted secret); the pair is
// read at every handshake, so a rotated certificate applies to the next
// connection. The server's host name is always verified.
type TLSFiles struct {
	Var                       string // the variables' prefix, for messages: "JETSYNC_REDIS"
	CAFile, CertFile, KeyFile string
}

// Any reports whether any file is set.
func (f TLSFiles) Any() bool { return f.CAFile != "" || f.CertFile != "" || f.KeyFile != "" }

// Validate reads the files once: a CA file must hold a certificate, and a
// certificate and its key come together and match.
func (f TLSFiles) Validate() error {
	_, err := f.Config()
	return err
}

// Config returns the client TLS configuration of f (TLS 1.2 or newer).
func (f TLSFiles) Config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s_CA_FILE: %w", f.Var, err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s_CA_FILE=%s holds no PEM certificate", f.Var, f.CAFile)
		}
	}
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, fmt.Errorf("%s_CERT_FILE and %s_KEY_FILE go together: set both for a client certificate, or neither", f.Var, f.Var)
	}
	if f.CertFile != "" {
		if _, err := f.clientCert(); err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return f.clientCert() }
	}
	return cfg, nil
}

// clientCert reads the client certificate and its key. Errors name the
// files, never their content.
func (f TLSFiles) clientCert() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("%s_CERT_FILE=%s, %s_KEY_FILE=%s: not a certificate and its key: %w", f.Var, f.CertFile, f.Var, f.KeyFile, err)
	}
	return &cert, nil
}
