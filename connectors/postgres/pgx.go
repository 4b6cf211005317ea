package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jetsync/jetsync/connectors/sqlsink"
)

// pgxDB adapts a pgx pool to the SQL sink; transactions begin with opts.
type pgxDB struct {
	pool *pgxpool.Pool
	opts pgx.TxOptions
}

func (d pgxDB) Begin(ctx context.Context) (sqlsink.Tx, error) {
	tx, err := d.pool.BeginTx(ctx, d.opts)
	if err != nil {
		return nil, err
	}
	return pgxTx{tx}, nil
}

func (d pgxDB) Close() error {
	d.pool.Close()
	return nil
}

func (d pgxDB) Exec(ctx context.Context, query string, args ...any) error {
	_, err := d.pool.Exec(ctx, query, args...)
	return err
}

func (d pgxDB) ExecCount(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := d.pool.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (d pgxDB) Query(ctx context.Context, query string, args ...any) (sqlsink.Rows, error) {
	r, err := d.pool.Query(ctx, query, args...)
	return pgxRows{r}, err
}

// pgxTx is a pgx transaction; the dialect reaches the pgx.Tx inside for
// the pipeline and COPY bulk paths.
type pgxTx struct{ pgx.Tx }

func (t pgxTx) Exec(ctx context.Context, query string, args ...any) error {
	_, err := t.Tx.Exec(ctx, query, args...)
	return err
}

func (t pgxTx) ExecCount(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := t.Tx.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (t pgxTx) Query(ctx context.Context, query string, args ...any) (sqlsink.Rows, error) {
	r, err := t.Tx.Query(ctx, query, args...)
	return pgxRows{r}, err
}

type pgxRows struct{ pgx.Rows }

func (r pgxRows) Close() { r.Rows.Close() }
