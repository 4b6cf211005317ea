package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/handlers"
)

var _ handlers.Sink = (*Sink)(nil)

// Sink writes ops to one MySQL or MariaDB database.
type Sink struct {
	db  *sql.DB
	cfg Config
	// unlockedGuard is a test hook: the guard reads the applied sequences
	// without claiming (locking) the keys' rows first, and raises them
	// after the rows are written.
	unlockedGuard bool
	// guardPause is a test hook: a pause between the guard and the rows,
	// as a slow instance would take.
	guardPause time.Duration
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
	dc.Timeout = cfg.Timeout
	// Values are escaped by the driver and sent with the statement: one round
	// trip per statement instead of prepare, execute and close.
	dc.InterpolateParams = true
	// The driver logs dropped connections on its own; route that to slog.
	dc.Logger = driverLog{log}
	dc.Params = map[string]string{"sql_mode": "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"}
	pw := cfg.password()
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
	s := &Sink{db: db, cfg: cfg}

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
// database, no CREATE privilege.
func isConfigError(err error) bool {
	var me *driver.MySQLError
	return errors.As(err, &me) && (me.Number == 1044 || me.Number == 1045 || me.Number == 1049 || me.Number == 1142 || me.Number == 1698)
}

// Close closes the pool.
func (s *Sink) Close() error { return s.db.Close() }

// DB returns the connection pool, for tools and tests.
func (s *Sink) DB() *sql.DB { return s.db }

// Write applies w in one transaction: it checks and records the sequence of
// every change (see handlers.Write), writes the ops, and moves the
// function's checkpoint.
func (s *Sink) Write(ctx context.Context, w handlers.Write) error {
	if len(w.Ops) == 0 && (w.Function == "" || len(w.Changes) == 0) {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: isolationLevels[s.cfg.Isolation]})
	if err != nil {
		return classify(err)
	}
	if err := s.write(ctx, tx, w); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return classify(err)
	}
	return nil
}

func (s *Sink) write(ctx context.Context, tx *sql.Tx, w handlers.Write) error {
	guarded := w.Function != "" && len(w.Changes) > 0
	if guarded {
		check := staleChanges
		if s.unlockedGuard {
			check = unlockedStaleChanges
		}
		stale, err := check(ctx, tx, w)
		time.Sleep(s.guardPause)
		if err != nil {
			return classify(fmt.Errorf("read applied sequences: %w", err))
		}
		if len(stale) > 0 {
			return &handlers.StaleError{Stale: stale}
		}
	}
	for _, run := range handlers.Runs(w.Ops) {
		for _, st := range statements(run) {
			if _, err := tx.ExecContext(ctx, st.sql, st.args...); err != nil {
				return classify(fmt.Errorf("%s %s: %w", verb(run[0]), quote(run[0].Table), err))
			}
		}
	}
	if guarded {
		if s.unlockedGuard {
			if err := raiseUnlocked(ctx, tx, w); err != nil {
				return classify(fmt.Errorf("record applied sequences: %w", err))
			}
		}
		if err := recordApplied(ctx, tx, w); err != nil {
			return classify(fmt.Errorf("record applied sequences: %w", err))
		}
	}
	return nil
}

func verb(op handlers.Op) string {
	if op.Delete {
		return "delete from"
	}
	return "upsert into"
}

// classify marks errors that this data can never get past as permanent;
// everything else (connections, timeouts, deadlocks, read-only, unknown) is
// transient.
func classify(err error) error {
	var me *driver.MySQLError
	if !errors.As(err, &me) {
		return err
	}
	switch me.Number {
	case 1048, // column cannot be null
		1062,       // duplicate entry on another unique key
		1264,       // out of range
		1265,       // data truncated
		1292,       // incorrect value
		1364,       // field has no default value
		1366,       // incorrect value for column
		1367,       // illegal value
		1406,       // data too long
		1416,       // cannot get geometry object
		1451, 1452, // foreign key
		1690,       // value out of range
		3819, 4025: // check constraint (MySQL, MariaDB)
		return handlers.Permanent(err)
	}
	return err
}

// quote returns a backquoted identifier.
func quote(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

type statement struct {
	sql  string
	args []any
}

// Limits of one statement: MySQL allows 65,535 placeholders, and the
// interpolated statement must stay under max_allowed_packet (16 MiB by
// default on MariaDB, 64 MiB on MySQL 8); 4 MiB leaves room.
const (
	maxParams = 65535
	maxBytes  = 4 << 20
)

// statements turns a run of ops of one shape into as few statements as the
// limits allow.
func statements(ops []handlers.Op) []statement {
	var out []statement
	perRow := len(ops[0].Key) + len(ops[0].Values)
	for start := 0; start < len(ops); {
		end, size := start, 0
		for end < len(ops) && (end-start+1)*perRow <= maxParams && (end == start || size+opSize(ops[end]) <= maxBytes) {
			size += opSize(ops[end])
			end++
		}
		if ops[start].Delete {
			out = append(out, deleteSQL(ops[start:end]))
		} else {
			out = append(out, upsertSQL(ops[start:end]))
		}
		start = end
	}
	return out
}

func opSize(op handlers.Op) int {
	n := 0
	for _, cs := range [][]handlers.Column{op.Key, op.Values} {
		for _, c := range cs {
			n += 4
			if s, ok := c.Value.(string); ok {
				n += 2 * len(s) // escaping may double it
			} else if b, ok := c.Value.([]byte); ok {
				n += 2 * len(b)
			} else {
				n += 24
			}
		}
	}
	return n
}

func upsertSQL(ops []handlers.Op) statement {
	first := ops[0]
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(quote(first.Table))
	b.WriteString(" (")
	cols := append(append([]handlers.Column{}, first.Key...), first.Values...)
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(c.Name))
	}
	b.WriteString(") VALUES ")
	row := "(" + strings.Repeat("?, ", len(cols)-1) + "?)"
	args := make([]any, 0, len(ops)*len(cols))
	for i, op := range ops {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
		for _, c := range op.Key {
			args = append(args, c.Value)
		}
		for _, c := range op.Values {
			args = append(args, c.Value)
		}
	}
	b.WriteString(" ON DUPLICATE KEY UPDATE ")
	update := first.Values
	if len(update) == 0 {
		update = first.Key[:1] // nothing to update: keep the row as it is
	}
	for i, c := range update {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s = VALUES(%s)", quote(c.Name), quote(c.Name))
	}
	return statement{b.String(), args}
}

func deleteSQL(ops []handlers.Op) statement {
	first := ops[0]
	var b strings.Builder
	b.WriteString("DELETE FROM ")
	b.WriteString(quote(first.Table))
	b.WriteString(" WHERE ")
	args := make([]any, 0, len(ops)*len(first.Key))
	tuple := "?"
	if len(first.Key) == 1 {
		b.WriteString(quote(first.Key[0].Name))
	} else {
		b.WriteString("(")
		for i, c := range first.Key {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quote(c.Name))
		}
		b.WriteString(")")
		tuple = "(" + strings.Repeat("?, ", len(first.Key)-1) + "?)"
	}
	b.WriteString(" IN (")
	for i, op := range ops {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tuple)
		for _, c := range op.Key {
			args = append(args, c.Value)
		}
	}
	b.WriteString(")")
	return statement{b.String(), args}
}

// Opener returns a handlers.Open that opens a Sink with cfg, for
// handlers.Serve.
func Opener(cfg Config) handlers.Open {
	return func(ctx context.Context, log *slog.Logger) (handlers.Sink, error) {
		return Open(ctx, cfg, log)
	}
}
