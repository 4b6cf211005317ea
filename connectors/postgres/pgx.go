package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jetsync/jetsync/connectors/sqlsink"
)

// pgxDB adapts a pgx pool to the SQL sink; transactions begin with opts.
type pgxDB struct {
	pgxQueryer
	pool *pgxpool.Pool
	opts pgx.TxOptions
}

func (d pgxDB) Begin(ctx context.Context) (sqlsink.Tx, error) {
	tx, err := d.pool.BeginTx(ctx, d.opts)
	if err != nil {
		return nil, err
	}
	return pgxTx{pgxQueryer{tx}, tx}, nil
}

func (d pgxDB) Close() error {
	d.pool.Close()
	return nil
}

// pgxTx is a pgx transaction; the dialect reaches the pgx.Tx inside for
// the pipeline and COPY bulk paths.
type pgxTx struct {
	pgxQueryer
	tx pgx.Tx
}

func (t pgxTx) Commit(ctx context.Context) error   { return t.tx.Commit(ctx) }
func (t pgxTx) Rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

// pgxQueryer is the Queryer of a pool or a transaction: both have Exec and
// Query.
type pgxQueryer struct {
	q interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	}
}

func (q pgxQueryer) Exec(ctx context.Context, query string, args ...any) error {
	_, err := q.q.Exec(ctx, query, args...)
	return err
}

func (q pgxQueryer) ExecCount(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.q.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (q pgxQueryer) Query(ctx context.Context, query string, args ...any) (sqlsink.Rows, error) {
	r, err := q.q.Query(ctx, query, args...)
	return pgxRows{r}, err
}

type pgxRows struct{ pgx.Rows }

func (r pgxRows) Close() { r.Rows.Close() }
