//go:build oracle

package oracle

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/godror/godror"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/platform"
)

// Available reports whether this build has the Oracle driver.
const Available = true

var _ handlers.Sink = (*Sink)(nil)

// Sink writes ops to one Oracle schema.
type Sink struct {
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
	return &Sink{db: db, cfg: cfg}, nil
}

// Close closes the pool.
func (s *Sink) Close() error { return s.db.Close() }

// DB returns the connection pool, for tools and tests.
func (s *Sink) DB() *sql.DB { return s.db }

func classify(err error) error {
	if oe, ok := godror.AsOraErr(err); ok && permanentCodes[oe.Code()] {
		return handlers.Permanent(err)
	}
	return err
}

// Write applies w in one transaction (see the package comment).
func (s *Sink) Write(ctx context.Context, w handlers.Write) error {
	if len(w.Ops) == 0 && (w.Function == "" || len(w.Changes) == 0) {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	if err := s.write(ctx, tx, w); err != nil {
		_ = tx.Rollback()
		return err
	}
	return classify(tx.Commit())
}

func (s *Sink) write(ctx context.Context, tx *sql.Tx, w handlers.Write) error {
	guarded := w.Function != "" && len(w.Changes) > 0
	newest := map[string]uint64{}
	var top uint64
	for _, c := range w.Changes {
		newest[c.Key] = max(newest[c.Key], c.Seq)
		top = max(top, c.Seq)
	}
	var keys []string
	for k := range newest {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return strings.Compare(string(handlers.KeyHash(a)), string(handlers.KeyHash(b)))
	})
	if guarded {
		fns, hashes := make([]string, len(keys)), make([][]byte, len(keys))
		for i, k := range keys {
			fns[i], hashes[i] = w.Function, handlers.KeyHash(k)
		}
		if _, err := tx.ExecContext(ctx, lockKeysSQL, fns, hashes); err != nil {
			return classify(fmt.Errorf("lock applied sequences: %w", err))
		}
		applied := map[string]uint64{}
		for start := 0; start < len(hashes); start += 1000 {
			chunk := hashes[start:min(start+1000, len(hashes))]
			args := []any{w.Function}
			for _, h := range chunk {
				args = append(args, h)
			}
			rows, err := tx.QueryContext(ctx, selectKeysSQL(len(chunk)), args...)
			if err != nil {
				return classify(fmt.Errorf("read applied sequences: %w", err))
			}
			for rows.Next() {
				var h []byte
				var seq int64
				if err := rows.Scan(&h, &seq); err != nil {
					rows.Close()
					return err
				}
				applied[string(h)] = uint64(seq)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return classify(err)
			}
		}
		var stale []handlers.KeySeq
		for _, c := range w.Changes {
			if c.Seq <= applied[string(handlers.KeyHash(c.Key))] {
				stale = append(stale, c)
			}
		}
		if len(stale) > 0 {
			return &handlers.StaleError{Stale: stale}
		}
	}
	for _, st := range statements(w.Ops) {
		if _, err := tx.ExecContext(ctx, st.sql, st.args...); err != nil {
			return classify(fmt.Errorf("%d rows: %w", st.rows, err))
		}
	}
	if !guarded {
		return nil
	}
	seqs, fns, hashes := make([]int64, len(keys)), make([]string, len(keys)), make([][]byte, len(keys))
	for i, k := range keys {
		seqs[i], fns[i], hashes[i] = int64(newest[k]), w.Function, handlers.KeyHash(k)
	}
	if _, err := tx.ExecContext(ctx, recordKeysSQL, seqs, fns, hashes); err != nil {
		return classify(fmt.Errorf("record applied sequences: %w", err))
	}
	if _, err := tx.ExecContext(ctx, checkpointSQL, w.Function, int64(top)); err != nil {
		return classify(fmt.Errorf("record checkpoint: %w", err))
	}
	return nil
}

// Checkpoint returns the highest stream sequence function has applied.
func (s *Sink) Checkpoint(ctx context.Context, function string) (uint64, error) {
	var seq int64
	err := s.db.QueryRowContext(ctx, "SELECT SEQ FROM JETSYNC_CHECKPOINTS WHERE FUNCTION_NAME = :1", function).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return uint64(seq), err
}

// Forget drops function's applied sequences and checkpoint.
func (s *Sink) Forget(ctx context.Context, function string) error {
	for _, t := range []string{"JETSYNC_APPLIED", "JETSYNC_CHECKPOINTS"} {
		if _, err := s.db.ExecContext(ctx, "DELETE FROM "+t+" WHERE FUNCTION_NAME = :1", function); err != nil {
			return err
		}
	}
	return nil
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
