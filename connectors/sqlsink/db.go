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
func FromSQL(db *sql.DB, opts *sql.TxOptions) DB { return sqlDB{sqlQueryer{db}, db, opts} }

type sqlDB struct {
	sqlQueryer
	db   *sql.DB
	opts *sql.TxOptions
}

func (d sqlDB) Begin(ctx context.Context) (Tx, error) {
	tx, err := d.db.BeginTx(ctx, d.opts)
	if err != nil {
		return nil, err
	}
	return sqlTx{sqlQueryer{tx}, tx}, nil
}

func (d sqlDB) Close() error { return d.db.Close() }

type sqlTx struct {
	sqlQueryer
	tx *sql.Tx
}

func (t sqlTx) Commit(context.Context) error   { return t.tx.Commit() }
func (t sqlTx) Rollback(context.Context) error { return t.tx.Rollback() }

// sqlQueryer is the Queryer of a pool or a transaction: both have
// ExecContext and QueryContext.
type sqlQueryer struct {
	q interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	}
}

func (q sqlQueryer) Exec(ctx context.Context, query string, args ...any) error {
	_, err := q.q.ExecContext(ctx, query, args...)
	return err
}

func (q sqlQueryer) ExecCount(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q sqlQueryer) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	r, err := q.q.QueryContext(ctx, query, args...)
	return sqlRows{r}, err
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

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
