package mssql

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jetsync/jetsync/infra/platform"
)

// Config is how the connector reaches SQL Server; variables are
// JETSYNC_MSSQL_*.
type Config struct {
	Addr         string          `split_words:"true" default:"127.0.0.1:1433"`
	User         string          `split_words:"true" default:"sa"`
	Password     platform.Secret `split_words:"true"`
	PasswordFile string          `split_words:"true"`
	Database     string          `split_words:"true" default:"test"`
	// Encrypt is go-mssqldb's encrypt parameter: disable, false, true or
	// strict.
	Encrypt string `split_words:"true" default:"true"`
	// TrustServerCertificate skips the server certificate's verification.
	TrustServerCertificate bool `split_words:"true" default:"false"`
	// MaxConns bounds the connection pool.
	MaxConns int `split_words:"true" default:"4"`
	// Timeout bounds connecting.
	Timeout time.Duration `split_words:"true" default:"5s"`
}

func (c Config) password() platform.SecretSource {
	return platform.SecretSource{Name: "JETSYNC_MSSQL_PASSWORD", Literal: c.Password, File: c.PasswordFile}
}

// Validate reports the first setting a person has to fix.
func (c Config) Validate() error {
	if err := platform.NoCredentials("JETSYNC_MSSQL_ADDR", c.Addr); err != nil {
		return err
	}
	if c.Addr == "" || !strings.Contains(c.Addr, ":") {
		return fmt.Errorf("JETSYNC_MSSQL_ADDR=%q: want host:port", c.Addr)
	}
	if c.User == "" {
		return fmt.Errorf("JETSYNC_MSSQL_USER is empty")
	}
	if c.Database == "" {
		return fmt.Errorf("JETSYNC_MSSQL_DATABASE is empty")
	}
	switch c.Encrypt {
	case "disable", "false", "true", "strict":
	default:
		return fmt.Errorf("JETSYNC_MSSQL_ENCRYPT=%q: use disable, false, true or strict", c.Encrypt)
	}
	if c.MaxConns < 1 {
		return fmt.Errorf("JETSYNC_MSSQL_MAX_CONNS=%d: use at least 1", c.MaxConns)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("JETSYNC_MSSQL_TIMEOUT=%s: must be positive", c.Timeout)
	}
	return c.password().Validate()
}

// dsn is the sqlserver:// URL with password.
func (c Config) dsn(password string) string {
	q := url.Values{}
	q.Set("database", c.Database)
	q.Set("encrypt", c.Encrypt)
	q.Set("dial timeout", fmt.Sprint(int(c.Timeout.Seconds())))
	if c.TrustServerCertificate {
		q.Set("TrustServerCertificate", "true")
	}
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword(c.User, password), Host: c.Addr, RawQuery: q.Encode()}
	return u.String()
}
