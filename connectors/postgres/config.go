package postgres

import (
	"fmt"
	"github.com/jackc/pgx/v5"
	"net"
	"time"

	"github.com/jetsync/jetsync/infra/platform"
)

// Config is how the connector reaches the database; variables are
// JETSYNC_POSTGRES_*.
type Config struct {
	Addr         string          `split_words:"true" default:"127.0.0.1:5432"`
	User         string          `split_words:"true" default:"postgres"`
	Password     platform.Secret `split_words:"true"`
	PasswordFile string          `split_words:"true"`
	Database     string          `split_words:"true" default:"test"`
	// SSLMode is libpq's sslmode: disable, allow, prefer, require,
	// verify-ca or verify-full.
	SSLMode string `split_words:"true" default:"prefer"`
	// CAFile is the CA (PEM) to trust (libpq's sslrootcert); CertFile and
	// KeyFile a client certificate and its key (sslcert, sslkey), read at
	// every new connection. Any of them makes the connection verify-full:
	// TLS, the server's certificate and host name verified.
	CAFile   string `split_words:"true"`
	CertFile string `split_words:"true"`
	KeyFile  string `split_words:"true"`
	// MaxConns bounds the connection pool.
	MaxConns int `split_words:"true" default:"4"`
	// Timeout bounds connecting; statement time is bounded by the write's context.
	Timeout time.Duration `split_words:"true" default:"5s"`
	// Isolation is the transaction isolation level of jetsync's writes:
	// empty (the server's default), read-committed, repeatable-read or
	// serializable. The guards hold under each (a serialization failure is
	// transient and retried).
	Isolation string `split_words:"true"`
}

// isolationLevels maps JETSYNC_POSTGRES_ISOLATION values to pgx's levels.
var isolationLevels = map[string]pgx.TxIsoLevel{
	"":                "",
	"read-committed":  pgx.ReadCommitted,
	"repeatable-read": pgx.RepeatableRead,
	"serializable":    pgx.Serializable,
}

func (c Config) tlsFiles() platform.TLSFiles {
	return platform.TLSFiles{Var: "JETSYNC_POSTGRES", CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile}
}

func (c Config) password() platform.SecretSource {
	return platform.SecretSource{Name: "JETSYNC_POSTGRES_PASSWORD", Literal: c.Password, File: c.PasswordFile}
}

// Validate reports the first setting a person has to fix.
func (c Config) Validate() error {
	if err := platform.NoCredentials("JETSYNC_POSTGRES_ADDR", c.Addr); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("JETSYNC_POSTGRES_ADDR=%q: want host:port", c.Addr)
	}
	if c.User == "" {
		return fmt.Errorf("JETSYNC_POSTGRES_USER is empty")
	}
	if c.Database == "" {
		return fmt.Errorf("JETSYNC_POSTGRES_DATABASE is empty")
	}
	switch c.SSLMode {
	case "disable", "allow", "prefer", "require", "verify-ca", "verify-full":
	default:
		return fmt.Errorf("JETSYNC_POSTGRES_SSL_MODE=%q: use disable, allow, prefer, require, verify-ca or verify-full", c.SSLMode)
	}
	if files := c.tlsFiles(); files.Any() {
		if c.SSLMode != "prefer" && c.SSLMode != "verify-full" {
			return fmt.Errorf("JETSYNC_POSTGRES_SSL_MODE=%s with JETSYNC_POSTGRES_CA_FILE, _CERT_FILE or _KEY_FILE: those verify the server, use verify-full (the default with them)", c.SSLMode)
		}
		if err := files.Validate(); err != nil {
			return err
		}
	}
	if c.MaxConns < 1 {
		return fmt.Errorf("JETSYNC_POSTGRES_MAX_CONNS=%d: use at least 1", c.MaxConns)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("JETSYNC_POSTGRES_TIMEOUT=%s: must be positive", c.Timeout)
	}
	if _, ok := isolationLevels[c.Isolation]; !ok {
		return fmt.Errorf("JETSYNC_POSTGRES_ISOLATION=%q: use read-committed, repeatable-read or serializable, or leave it empty for the server's default", c.Isolation)
	}
	return c.password().Validate()
}
