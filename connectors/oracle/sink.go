//go:build oracle

package oracle

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/godror/godror"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/connectors/sqlsink"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/platform"
)

// Available reports whether this build has the Oracle driver.
const Available = true

var _ handlers.Sink = (*Sink)(nil)

// Sink writes ops to one Oracle schema: the SQL sink in Oracle's dialect,
// and the schema checks.
type Sink struct {
	*sqlsink.Sink
	db  *sql.DB
	cfg Config
}

// connector makes standalone godror connections, reading the password for
// each one, so that a rotated password file is picked up (godror's own
// session pool keeps the password it was created with).
type connector struct {
	params godror.ConnectionParams
	pw     platform.SecretSource
}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	p, err := c.pw.Read()
	if err != nil {
		return nil, err
	}
	params := c.params
	params.Password = godror.NewPassword(p)
	params.StandaloneConnection = true
	return godror.NewConnector(params).Connect(ctx)
}

func (c connector) Driver() driver.Driver { return godror.NewConnector(c.params).Driver() }

// Open validates cfg and connects. While the database cannot be reached it
// retries until ctx ends; wrong credentials stop it at once.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var params godror.ConnectionParams
	params.Username, params.ConnectString = cfg.User, cfg.ConnectString
	params.Timezone = time.UTC
	db := sql.OpenDB(connector{params: params, pw: cfg.password()})
	db.SetMaxOpenConns(cfg.MaxConns)
	db.SetMaxIdleConns(cfg.MaxConns)
	db.SetConnMaxLifetime(time.Hour)
	err := connectors.Connect(ctx, log, func(ctx context.Context) error {
		pctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		if err := db.PingContext(pctx); err != nil {
			return fmt.Errorf("oracle at %s, user %q: %w", cfg.ConnectString, cfg.User, err)
		}
		return nil
	}, func(err error) bool {
		oe, ok := godror.AsOraErr(err)
		return ok && (oe.Code() == 1017 || oe.Code() == 28000) // bad credentials, account locked
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Sink{Sink: sqlsink.New(sqlsink.FromSQL(db, nil), dialect{}), db: db, cfg: cfg}, nil
}

// DB returns the connection pool, for tools and tests.
func (s *Sink) DB() *sql.DB { return s.db }

func classify(err error) error {
	if oe, ok := godror.AsOraErr(err); ok && permanentCodes[oe.Code()] {
		return handlers.Permanent(err)
	}
	return err
}

// dialect is Oracle's: the syntax of sql.go (names as Ident makes them,
// :n placeholders, FETCH FIRST), MERGE and DELETE with array binding, the
// guard below.
type dialect struct{ syntax }

var (
	_ sqlsink.Dialect = dialect{}
	_ sqlsink.Limiter = dialect{}
)

func (dialect) Classify(err error) error { return classify(err) }

func (dialect) WriteRun(ctx context.Context, tx sqlsink.Tx, run []handlers.Op) error {
	for _, st := range statements(run) {
		if err := tx.Exec(ctx, st.sql, st.args...); err != nil {
			return fmt.Errorf("%d rows: %w", st.rows, err)
		}
	}
	return nil
}

func (dialect) CheckpointSQL() string { return checkpointSQL }

// Claim raises the applied order of each key and returns the orders
// before: a MERGE adds an entry with order 0 for each new key (array
// bound, in hash order); a SELECT ... FOR UPDATE (per 1,000 keys, Oracle's
// IN list limit) locks every entry and reads its latest order; an UPDATE
// raises them. FOR UPDATE locks only entries that exist, hence the MERGE.
func (dialect) Claim(ctx context.Context, tx sqlsink.Tx, function string, keys []sqlsink.Key) (map[string]uint64, error) {
	fns, hashes, seqs := make([]string, len(keys)), make([][]byte, len(keys)), make([]int64, len(keys))
	for i, k := range keys {
		fns[i], hashes[i], seqs[i] = function, k.Hash, int64(k.Seq)
	}
	if err := tx.Exec(ctx, lockKeysSQL, fns, hashes); err != nil {
		return nil, err
	}
	before := make(map[string]uint64, len(keys))
	if err := sqlsink.Chunks(keys, func(chunk []sqlsink.Key) error {
		args := []any{function}
		for _, k := range chunk {
			args = append(args, k.Hash)
		}
		return sqlsink.Each(ctx, tx, func(r sqlsink.Rows) error {
			var h []byte
			var seq int64
			err := r.Scan(&h, &seq)
			if seq > 0 {
				before[string(h)] = uint64(seq)
			}
			return err
		}, selectKeysSQL(len(chunk)), args...)
	}); err != nil {
		return nil, err
	}
	return before, tx.Exec(ctx, recordKeysSQL, seqs, fns, hashes)
}

// CheckTable checks that table exists in the user's schema with every
// column (names as Ident resolves them) and that key is its primary or a
// unique key.
func (s *Sink) CheckTable(ctx context.Context, table string, key, columns []string) error {
	unq := func(n string) string { return strings.Trim(Ident(n), `"`) }
	rows, err := s.db.QueryContext(ctx, "SELECT COLUMN_NAME FROM USER_TAB_COLUMNS WHERE TABLE_NAME = :1", unq(table))
	if err != nil {
		return fmt.Errorf("read columns of table %s: %w", Ident(table), err)
	}
	var have []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return err
		}
		have = append(have, c)
	}
	rows.Close()
	if len(have) == 0 {
		return fmt.Errorf("table %s does not exist for user %q: create it first (see infra/sql/oracle)", Ident(table), s.cfg.User)
	}
	var missing []string
	for _, c := range append(append([]string{}, key...), columns...) {
		if !slices.Contains(have, unq(c)) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("table %s has no column %s; it has %s", Ident(table), strings.Join(missing, ", "), strings.Join(have, ", "))
	}
	if len(key) == 0 {
		return nil
	}
	rows, err = s.db.QueryContext(ctx, `SELECT i.INDEX_NAME, c.COLUMN_NAME FROM USER_INDEXES i JOIN USER_IND_COLUMNS c ON c.INDEX_NAME = i.INDEX_NAME
WHERE i.TABLE_NAME = :1 AND i.UNIQUENESS = 'UNIQUE'`, unq(table))
	if err != nil {
		return fmt.Errorf("read unique keys of table %s: %w", Ident(table), err)
	}
	defer rows.Close()
	unique := map[string][]string{}
	for rows.Next() {
		var idx, col string
		if err := rows.Scan(&idx, &col); err != nil {
			return err
		}
		unique[idx] = append(unique[idx], col)
	}
	want := make([]string, len(key))
	for i, k := range key {
		want[i] = unq(k)
	}
	slices.Sort(want)
	for _, cols := range unique {
		slices.Sort(cols)
		if slices.Equal(cols, want) {
			return nil
		}
	}
	return fmt.Errorf("key column %s of table %s is not its primary key or a unique key", strings.Join(key, ", "), Ident(table))
}
