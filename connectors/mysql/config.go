package mysql

import (
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jetsync/jetsync/infra/platform"
)

// Config is how the connector reaches the database; variables are
// JETSYNC_MYSQL_*.
type Config struct {
	Addr         string          `split_words:"true" default:"127.0.0.1:3306"`
	User         string          `split_words:"true" default:"root"`
	Password     platform.Secret `split_words:"true"`
	PasswordFile string          `split_words:"true"`
	Database     string          `split_words:"true" default:"test"`
	// TLS is the driver's tls parameter: false, true, skip-verify or preferred.
	TLS string `split_words:"true" default:"false"`
	// CAFile is the CA (PEM) to trust; CertFile and KeyFile a client
	// certificate and its key (read at every new connection). Any of them
	// makes the connection TLS with the server's host name verified
	// (JETSYNC_MYSQL_TLS false or true).
	CAFile   string `split_words:"true"`
	CertFile string `split_words:"true"`
	KeyFile  string `split_words:"true"`
	// MaxConns bounds the connection pool.
	MaxConns int `split_words:"true" default:"4"`
	// Timeout bounds connecting; statement time is bounded by the write's context.
	Timeout time.Duration `split_words:"true" default:"5s"`
	// Isolation is the transaction isolation level of jetsync's writes:
	// empty (the server's default), read-committed, repeatable-read or
	// serializable. The guards hold under each.
	Isolation string `split_words:"true"`

	// passwordOnce is a test hook (WithPasswordReadOnce): the password is
	// read when the sink opens, not before every new connection.
	passwordOnce bool
}

// isolationLevels maps JETSYNC_*_ISOLATION values to database/sql levels.
var isolationLevels = map[string]sql.IsolationLevel{
	"":                sql.LevelDefault,
	"read-committed":  sql.LevelReadCommitted,
	"repeatable-read": sql.LevelRepeatableRead,
	"serializable":    sql.LevelSerializable,
}

func (c Config) tlsFiles() platform.TLSFiles {
	return platform.TLSFiles{Var: "JETSYNC_MYSQL", CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile}
}

func (c Config) password() platform.SecretSource {
	return platform.SecretSource{Name: "JETSYNC_MYSQL_PASSWORD", Literal: c.Password, File: c.PasswordFile}
}

// Validate reports the first setting a person has to fix.
func (c Config) Validate() error {
	if err := platform.NoCredentials("JETSYNC_MYSQL_ADDR", c.Addr); err != nil {
		return err
	}
	if c.Addr == "" || !strings.Contains(c.Addr, ":") {
		return fmt.Errorf("JETSYNC_MYSQL_ADDR=%q: want host:port", c.Addr)
	}
	if c.User == "" {
		return fmt.Errorf("JETSYNC_MYSQL_USER is empty")
	}
	if c.Database == "" {
		return fmt.Errorf("JETSYNC_MYSQL_DATABASE is empty")
	}
	switch c.TLS {
	case "false", "true", "skip-verify", "preferred":
	default:
		return fmt.Errorf("JETSYNC_MYSQL_TLS=%q: use false, true, skip-verify or preferred", c.TLS)
	}
	if files := c.tlsFiles(); files.Any() {
		if c.TLS != "false" && c.TLS != "true" {
			return fmt.Errorf("JETSYNC_MYSQL_TLS=%s with JETSYNC_MYSQL_CA_FILE, _CERT_FILE or _KEY_FILE: those verify the server, use true", c.TLS)
		}
		if err := files.Validate(); err != nil {
			return err
		}
	}
	if c.MaxConns < 1 {
		return fmt.Errorf("JETSYNC_MYSQL_MAX_CONNS=%d: use at least 1", c.MaxConns)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("JETSYNC_MYSQL_TIMEOUT=%s: must be positive", c.Timeout)
	}
	if _, ok := isolationLevels[c.Isolation]; !ok {
		return fmt.Errorf("JETSYNC_MYSQL_ISOLATION=%q: use read-committed, repeatable-read or serializable, or leave it empty for the server's default", c.Isolation)
	}
	return c.password().Validate()
}
