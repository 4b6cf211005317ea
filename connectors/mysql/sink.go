package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/connectors/sqlsink"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/platform"
)

var _ handlers.Sink = (*Sink)(nil)

// Sink writes ops to one MySQL or MariaDB database: the SQL sink in
// MySQL's dialect, and the schema checks.
type Sink struct {
	*sqlsink.Sink
	db  *sql.DB
	cfg Config
}

// Open validates cfg and connects. While the server cannot be reached it
// retries (logging each failure) until ctx ends; wrong credentials or an
// unknown database stop it at once.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dc := driver.NewConfig()
	dc.Net, dc.Addr, dc.User, dc.DBName = "tcp", cfg.Addr, cfg.User, cfg.Database
	dc.TLSConfig = cfg.TLS
	if files := cfg.tlsFiles(); files.Any() {
		tlsCfg, err := files.Config() // the driver sets ServerName from Addr
		if err != nil {
			return nil, err
		}
		dc.TLS = tlsCfg
	}
	dc.Timeout = cfg.Timeout
	// Values are escaped by the driver and sent with the statement: one round
	// trip per statement instead of prepare, execute and close.
	dc.InterpolateParams = true
	// The guard's claim sends three statements in one round trip (state.go).
	dc.MultiStatements = true
	// The driver logs dropped connections on its own; route that to slog.
	dc.Logger = driverLog{log}
	dc.Params = map[string]string{"sql_mode": "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"}
	pw := cfg.password()
	if cfg.passwordOnce { // test hook: a rotated password file is not followed
		p, err := pw.Read()
		if err != nil {
			return nil, err
		}
		pw = platform.SecretSource{Name: pw.Name, Literal: platform.Secret(p)}
	}
	if err := dc.Apply(driver.BeforeConnect(func(_ context.Context, c *driver.Config) error {
		p, err := pw.Read()
		c.Passwd = p
		return err
	})); err != nil {
		return nil, err
	}
	conn, err := driver.NewConnector(dc)
	if err != nil {
		return nil, fmt.Errorf("mysql config: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(cfg.MaxConns)
	db.SetMaxIdleConns(cfg.MaxConns)
	db.SetConnMaxLifetime(time.Hour)
	s := &Sink{Sink: sqlsink.New(sqlsink.FromSQL(db, &sql.TxOptions{Isolation: isolationLevels[cfg.Isolation]}), dialect{}), db: db, cfg: cfg}

	err = connectors.Connect(ctx, log, func(ctx context.Context) error {
		if err := db.PingContext(ctx); err != nil {
			return fmt.Errorf("mysql at %s, database %q, user %q: %w", cfg.Addr, cfg.Database, cfg.User, err)
		}
		if err := createStateTables(ctx, db); err != nil {
			if isConfigError(err) {
				return fmt.Errorf("create jetsync's state tables in database %q (grant this user CREATE once, or have them created from infra/sql/mysql/jetsync_state.sql): %w", cfg.Database, err)
			}
			return fmt.Errorf("mysql at %s, database %q, user %q: %w", cfg.Addr, cfg.Database, cfg.User, err)
		}
		return nil
	}, isConfigError)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// driverLog sends the driver's own log lines to slog at debug level: the
// errors behind them reach Write and are logged there.
type driverLog struct{ log *slog.Logger }

func (l driverLog) Print(v ...any) { l.log.Debug("mysql driver", "msg", fmt.Sprint(v...)) }

// isConfigError reports errors that no retry fixes: access denied, unknown
// database, no CREATE privilege, a server certificate not trusted.
func isConfigError(err error) bool {
	if connectors.IsCertificateError(err) {
		return true
	}
	var me *driver.MySQLError
	return errors.As(err, &me) && (me.Number == 1044 || me.Number == 1045 || me.Number == 1049 || me.Number == 1142 || me.Number == 1698)
}

// DB returns the connection pool, for tools and tests.
func (s *Sink) DB() *sql.DB { return s.db }

// Opener returns a handlers.Opener that opens a Sink with cfg, for
// handlers.Serve.
func Opener(cfg Config) handlers.Opener {
	return func(ctx context.Context, log *slog.Logger) (handlers.Sink, error) {
		return Open(ctx, cfg, log)
	}
}
