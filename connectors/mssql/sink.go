package mssql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	mssqldb "github.com/microsoft/go-mssqldb"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/connectors/sqlsink"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/platform"
)

var _ handlers.Sink = (*Sink)(nil)

// Sink writes ops to one SQL Server database: the SQL sink in SQL Server's
// dialect, and the schema checks.
type Sink struct {
	*sqlsink.Sink
	db  *sql.DB
	cfg Config
	d   *dialect
}

// connector opens each connection with the password read then, so that a
// rotated password file is picked up without a restart.
type connector struct {
	cfg Config
	pw  platform.SecretSource
}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	p, err := c.pw.Read()
	if err != nil {
		return nil, err
	}
	conn, err := mssqldb.NewConnector(c.cfg.dsn(string(p)))
	if err != nil {
		return nil, err
	}
	return conn.Connect(ctx)
}

func (c connector) Driver() driver.Driver { return &mssqldb.Driver{} }

// Open validates cfg and connects. While the server cannot be reached it
// retries until ctx ends; wrong credentials (18456) or an unknown database
// (4060) stop it at once.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector{cfg: cfg, pw: cfg.password()})
	db.SetMaxOpenConns(cfg.MaxConns)
	db.SetMaxIdleConns(cfg.MaxConns)
	db.SetConnMaxLifetime(time.Hour)
	err := connectors.Connect(ctx, log, func(ctx context.Context) error {
		pctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		if err := db.PingContext(pctx); err != nil {
			return fmt.Errorf("SQL Server at %s, user %q, database %q: %w", cfg.Addr, cfg.User, cfg.Database, err)
		}
		return nil
	}, func(err error) bool {
		n, ok := number(err)
		return ok && (n == 18456 || n == 4060)
	})
	if err == nil {
		err = createStateTables(ctx, db)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	d := &dialect{binary: map[string]map[string]bool{}}
	return &Sink{Sink: sqlsink.New(sqlsink.FromSQL(db, nil), d), db: db, cfg: cfg, d: d}, nil
}

// Opener returns a handlers.Opener that opens a Sink with cfg, for
// handlers.Serve.
func Opener(cfg Config) handlers.Opener {
	return func(ctx context.Context, log *slog.Logger) (handlers.Sink, error) { return Open(ctx, cfg, log) }
}

// DB returns the connection pool, for tools and tests.
func (s *Sink) DB() *sql.DB { return s.db }

// number is the SQL Server error number of err.
func number(err error) (int32, bool) {
	var e mssqldb.Error
	if errors.As(err, &e) {
		return e.Number, true
	}
	var pe *mssqldb.Error
	if errors.As(err, &pe) {
		return pe.Number, true
	}
	return 0, false
}

func classify(err error) error {
	if n, ok := number(err); ok && permanentNumbers[n] {
		return handlers.Permanent(err)
	}
	return err
}

// dialect is SQL Server's: bracketed names, @pN placeholders, MERGE and
// DELETE, the guard of claimSQL. It knows each checked table's binary
// columns: SQL Server converts no text to VARBINARY implicitly, so text
// bound for them goes as bytes.
type dialect struct {
	mu     sync.RWMutex
	binary map[string]map[string]bool // table → binary columns
}

var (
	_ sqlsink.Dialect = (*dialect)(nil)
	_ sqlsink.Limiter = (*dialect)(nil)
	_ sqlsink.Binder  = (*dialect)(nil)
)

func (*dialect) Quote(name string) string { return quote(name) }
func (*dialect) Param(n int) string       { return param(n) }
func (*dialect) Classify(err error) error { return classify(err) }
func (*dialect) CheckpointSQL() string    { return checkpointSQL }
func (*dialect) Limit(n int) string       { return limit(n) }

// Bind binds text for a binary column of table as bytes, as WriteRun
// writes it.
func (d *dialect) Bind(table, column string, v any) any {
	d.mu.RLock()
	binary := d.binary[table][column]
	d.mu.RUnlock()
	if s, ok := v.(string); ok && binary {
		return []byte(s)
	}
	return v
}

func (d *dialect) WriteRun(ctx context.Context, tx sqlsink.Tx, run []handlers.Op) error {
	d.mu.RLock()
	binary := d.binary[run[0].Table]
	d.mu.RUnlock()
	if len(binary) > 0 {
		run = asBytes(run, binary)
	}
	return sqlsink.ExecAll(ctx, tx, statements(run))
}

// Claim raises the applied order of each key and returns the orders before,
// keysPerClaim keys per MERGE (see claimSQL).
func (*dialect) Claim(ctx context.Context, tx sqlsink.Tx, function string, keys []sqlsink.Key) (map[string]uint64, error) {
	before := make(map[string]uint64, len(keys))
	for start := 0; start < len(keys); start += keysPerClaim {
		chunk := keys[start:min(start+keysPerClaim, len(keys))]
		args := make([]any, 0, 3*len(chunk))
		for _, k := range chunk {
			args = append(args, function, k.Hash, int64(k.Seq))
		}
		err := sqlsink.Each(ctx, tx, func(r sqlsink.Rows) error {
			var h []byte
			var seq sql.NullInt64
			if err := r.Scan(&h, &seq); err != nil {
				return err
			}
			if seq.Valid {
				before[string(h)] = uint64(seq.Int64)
			}
			return nil
		}, claimSQL(len(chunk)), args...)
		if err != nil {
			return nil, err
		}
	}
	return before, nil
}

// CheckTable checks that table exists with every column and that key is
// its primary or a unique key.
func (s *Sink) CheckTable(ctx context.Context, table string, key, columns []string) error {
	var have []string
	binary := map[string]bool{}
	err := sqlsink.Each(ctx, sqlsink.FromSQL(s.db, nil), func(r sqlsink.Rows) error {
		var c, typ string
		err := r.Scan(&c, &typ)
		have = append(have, c)
		if typ == "varbinary" || typ == "binary" {
			binary[c] = true
		}
		return err
	}, "SELECT COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = @p1 AND TABLE_SCHEMA = SCHEMA_NAME()", table)
	if err != nil {
		return fmt.Errorf("read columns of table %s: %w", quote(table), err)
	}
	if len(have) == 0 {
		return fmt.Errorf("table %s does not exist in database %q (schema of user %q): create it first (see infra/sql/mssql)", quote(table), s.cfg.Database, s.cfg.User)
	}
	var missing []string
	for _, c := range append(append([]string{}, key...), columns...) {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, c) }) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("table %s has no column %s; it has %s", quote(table), strings.Join(missing, ", "), strings.Join(have, ", "))
	}
	s.d.mu.Lock()
	s.d.binary[table] = binary
	s.d.mu.Unlock()
	if len(key) == 0 {
		return nil
	}
	unique := map[string][]string{}
	err = sqlsink.Each(ctx, sqlsink.FromSQL(s.db, nil), func(r sqlsink.Rows) error {
		var name, col string
		err := r.Scan(&name, &col)
		unique[name] = append(unique[name], col)
		return err
	}, `SELECT i.name, c.name FROM sys.indexes i
JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id
JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
WHERE i.object_id = OBJECT_ID(@p1) AND i.is_unique = 1`, quote(table))
	if err != nil {
		return fmt.Errorf("read unique keys of table %s: %w", quote(table), err)
	}
	for _, cols := range unique {
		if len(cols) == len(key) && !slices.ContainsFunc(key, func(k string) bool {
			return !slices.ContainsFunc(cols, func(c string) bool { return strings.EqualFold(c, k) })
		}) {
			return nil
		}
	}
	return fmt.Errorf("table %s has no primary or unique key on %s: a row per key needs one", quote(table), strings.Join(key, ", "))
}

// CheckKeyExact refuses a key column that would make distinct Redis keys
// one row: SQL Server compares text ignoring trailing spaces whatever the
// collation (ANSI padding), and its default collations ignore case too, so
// only a VARBINARY (or a number) key is exact.
func (s *Sink) CheckKeyExact(ctx context.Context, table, column string) error {
	var typ string
	var collation sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT TYPE_NAME(c.system_type_id), c.collation_name FROM sys.columns c
WHERE c.object_id = OBJECT_ID(@p1) AND c.name = @p2`, quote(table), column).Scan(&typ, &collation)
	if err != nil {
		return fmt.Errorf("read key column %q of table %q: %w", column, table, err)
	}
	fix := fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s VARBINARY(255) NOT NULL", quote(table), quote(column))
	return keyFolds(table, column, typ, collation.String, fix)
}

// keyFolds is CheckKeyExact's verdict on a key column of type typ and
// collation.
func keyFolds(table, column, typ, collation, fix string) error {
	switch typ {
	case "nvarchar", "varchar", "nchar", "char", "ntext", "text", "sysname":
		return connectors.KeyFolds(table, column, "is "+typ+" (collation "+collation+"), which SQL Server compares ignoring trailing spaces whatever the collation", fix)
	case "binary":
		return connectors.KeyFolds(table, column, "is binary, which pads with zero bytes", fix)
	}
	return nil
}
