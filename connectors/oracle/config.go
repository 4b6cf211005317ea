package oracle

import (
	"fmt"
	"time"

	"github.com/jetsync/jetsync/infra/platform"
)

// Config is how the connector reaches the database; variables are
// JETSYNC_ORACLE_*.
type Config struct {
	// ConnectString is host:port/service_name, a TNS alias or an Easy
	// Connect Plus string.
	ConnectString string          `split_words:"true" default:"127.0.0.1:1521/FREEPDB1"`
	User          string          `split_words:"true" default:"jetsync"`
	Password      platform.Secret `split_words:"true"`
	PasswordFile  string          `split_words:"true"`
	// MaxConns bounds the connection pool.
	MaxConns int `split_words:"true" default:"4"`
	// Timeout bounds connecting.
	Timeout time.Duration `split_words:"true" default:"10s"`
}

func (c Config) password() platform.SecretSource {
	return platform.SecretSource{Name: "JETSYNC_ORACLE_PASSWORD", Literal: c.Password, File: c.PasswordFile}
}

// Validate reports the first setting a person has to fix.
func (c Config) Validate() error {
	if err := platform.NoCredentials("JETSYNC_ORACLE_CONNECT_STRING", c.ConnectString); err != nil {
		return err
	}
	if c.ConnectString == "" {
		return fmt.Errorf("JETSYNC_ORACLE_CONNECT_STRING is empty: want host:port/service")
	}
	if c.User == "" {
		return fmt.Errorf("JETSYNC_ORACLE_USER is empty")
	}
	if c.MaxConns < 1 {
		return fmt.Errorf("JETSYNC_ORACLE_MAX_CONNS=%d: use at least 1", c.MaxConns)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("JETSYNC_ORACLE_TIMEOUT=%s: must be positive", c.Timeout)
	}
	return c.password().Validate()
}
