package sqlsink

import (
	"context"
	"database/sql"
)

// DB is a connection pool: database/sql's through FromSQL, or pgx's (the
// postgres connector adapts it).
type DB interface {
	Queryer
	Begin(ctx context.Context) (Tx, error)
	Close() error
}

// Queryer runs statements, in a transaction or on the pool.
type Queryer interface {
	Exec(ctx context.Context, query string, args ...any) error
	// ExecCount is Exec returning the number of rows affected.
	ExecCount(ctx context.Context, query string, args ...any) (int64, error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Tx is one transaction.
type Tx interface {
	Queryer
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// Rows is the result of a query.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Each runs query on q and calls scan for each row it returns.
func Each(ctx context.Context, q Queryer, scan func(Rows) error, query string, args ...any) error {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// FromSQL adapts a database/sql pool; transactions begin with opts (nil:
// the driver's defaults).
func FromSQL(db *sql.DB, opts *sql.TxOptions) DB { return sqlDB{db, opts} }

type sqlDB struct {
	db   *sql.DB
	opts *sql.TxOptions
}

func (d sqlDB) Begin(ctx context.Context) (Tx, error) {
	tx, err := d.db.BeginTx(ctx, d.opts)
	if err != nil {
		return nil, err
	}
	return sqlTx{tx}, nil
}

func (d sqlDB) Close() error { return d.db.Close() }

func (d sqlDB) Exec(ctx context.Context, query string, args ...any) error {
	_, err := d.db.ExecContext(ctx, query, args...)
	return err
}

func (d sqlDB) ExecCount(ctx context.Context, query string, args ...any) (int64, error) {
	return rowsAffected(d.db.ExecContext(ctx, query, args...))
}

func (d sqlDB) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	r, err := d.db.QueryContext(ctx, query, args...)
	return sqlRows{r}, err
}

type sqlTx struct{ tx *sql.Tx }

func (t sqlTx) Commit(context.Context) error   { return t.tx.Commit() }
func (t sqlTx) Rollback(context.Context) error { return t.tx.Rollback() }

func (t sqlTx) Exec(ctx context.Context, query string, args ...any) error {
	_, err := t.tx.ExecContext(ctx, query, args...)
	return err
}

func (t sqlTx) ExecCount(ctx context.Context, query string, args ...any) (int64, error) {
	return rowsAffected(t.tx.ExecContext(ctx, query, args...))
}

func (t sqlTx) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	r, err := t.tx.QueryContext(ctx, query, args...)
	return sqlRows{r}, err
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

func rowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Statement is one SQL statement and its arguments.
type Statement struct {
	SQL  string
	Args []any
}

// ExecAll runs sts in tx in order, stopping at the first error: a dialect's
// WriteRun for statements it has built.
func ExecAll(ctx context.Context, tx Tx, sts []Statement) error {
	for _, st := range sts {
		if err := tx.Exec(ctx, st.SQL, st.Args...); err != nil {
			return err
		}
	}
	return nil
}

// ScanOrders returns an Each scan that reads rows of (key_hash, seq) into
// before, by string(key_hash): what a Claim returns.
func ScanOrders(before map[string]uint64) func(Rows) error {
	return func(r Rows) error {
		var h []byte
		var seq int64
		err := r.Scan(&h, &seq)
		before[string(h)] = uint64(seq)
		return err
	}
}
