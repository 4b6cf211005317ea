package postgres

import (
	"fmt"
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
	// MaxConns bounds the connection pool.
	MaxConns int `split_words:"true" default:"4"`
	// Timeout bounds connecting; statement time is bounded by the write's context.
	Timeout time.Duration `split_words:"true" default:"5s"`
}

func (c Config) password() platform.SecretSource {
	return platform.SecretSource{Name: "JETSYNC_POSTGRES_PASSWORD", Literal: c.Password, File: c.PasswordFile}
}

// Validate reports the first setting a person has to fix.
func (c Config) Validate() error {
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
	if c.MaxConns < 1 {
		return fmt.Errorf("JETSYNC_POSTGRES_MAX_CONNS=%d: use at least 1", c.MaxConns)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("JETSYNC_POSTGRES_TIMEOUT=%s: must be positive", c.Timeout)
	}
	return c.password().Validate()
}
