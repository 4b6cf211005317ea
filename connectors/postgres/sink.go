package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/connectors/sqlsink"
	"github.com/jetsync/jetsync/handlers"
)

var _ handlers.Sink = (*Sink)(nil)

// bulkPath is how a run of upserts reaches the server. BenchmarkBulkPaths
// measures them; the default is the fastest (see ARCHITECTURE.md).
type bulkPath int

const (
	// bulkValues: multi-row INSERT ... VALUES ... ON CONFLICT, one round
	// trip per up to 65,535 parameters.
	bulkValues bulkPath = iota
	// bulkPipeline: one single-row statement per op, all queued in one
	// pgx.Batch (pipelined: one round trip for the whole run).
	bulkPipeline
	// bulkCopy: COPY into a temporary table like the target, then one
	// INSERT ... SELECT ... ON CONFLICT.
	bulkCopy
)

// Sink writes ops to one PostgreSQL database: the SQL sink in
// PostgreSQL's dialect, and the schema checks.
type Sink struct {
	*sqlsink.Sink
	pool *pgxpool.Pool
	cfg  Config
	d    *dialect
}

// Open validates cfg and connects. While the server cannot be reached it
// retries (logging each failure) until ctx ends; wrong credentials or an
// unknown database stop it at once.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u := url.URL{Scheme: "postgres", User: url.User(cfg.User), Host: cfg.Addr, Path: "/" + cfg.Database}
	q := url.Values{}
	q.Set("sslmode", cfg.SSLMode)
	q.Set("connect_timeout", fmt.Sprint(max(1, int(cfg.Timeout.Seconds()))))
	q.Set("application_name", "jetsync")
	u.RawQuery = q.Encode()
	pc, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("postgres config: %w", err)
	}
	if files := cfg.tlsFiles(); files.Any() {
		tlsCfg, err := files.Config()
		if err != nil {
			return nil, err
		}
		tlsCfg.ServerName, _, _ = net.SplitHostPort(cfg.Addr)
		pc.ConnConfig.TLSConfig, pc.ConnConfig.Fallbacks = tlsCfg, nil // verify-full, no plaintext
	}
	pc.MaxConns = int32(cfg.MaxConns)
	pc.MaxConnLifetime = time.Hour
	pc.ConnConfig.ConnectTimeout = cfg.Timeout
	pw := cfg.password()
	pc.BeforeConnect = func(_ context.Context, cc *pgx.ConnConfig) error {
		p, err := pw.Read()
		cc.Password = p
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres config: %w", err)
	}
	d := &dialect{}
	s := &Sink{Sink: sqlsink.New(pgxDB{pgxQueryer{pool}, pool, pgx.TxOptions{IsoLevel: isolationLevels[cfg.Isolation]}}, d), pool: pool, cfg: cfg, d: d}
	err = connectors.Connect(ctx, log, func(ctx context.Context) error {
		if err := pool.Ping(ctx); err != nil {
			return fmt.Errorf("postgres at %s, database %q, user %q: %w", cfg.Addr, cfg.Database, cfg.User, err)
		}
		if err := createStateTables(ctx, pool); err != nil {
			if isConfigError(err) && !errors.Is(err, errStateRights) {
				return fmt.Errorf("create jetsync's state tables in database %q (grant this user CREATE once, or have them created from infra/sql/postgres/jetsync_state.sql): %w", cfg.Database, err)
			}
			return fmt.Errorf("postgres at %s, database %q, user %q: %w", cfg.Addr, cfg.Database, cfg.User, err)
		}
		return nil
	}, isConfigError)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// isConfigError reports errors that no retry fixes: bad credentials,
// unknown database, no privilege, a server certificate not trusted.
func isConfigError(err error) bool {
	if connectors.IsCertificateError(err) || errors.Is(err, errStateRights) {
		return true
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	return strings.HasPrefix(pe.Code, "28") || pe.Code == "3D000" || pe.Code == "42501"
}

// Pool returns the connection pool, for tools and tests.
func (s *Sink) Pool() *pgxpool.Pool { return s.pool }

// dialect is PostgreSQL's: double-quoted names, $n placeholders, INSERT ...
// ON CONFLICT through one of the bulk paths, the guard of state.go.
type dialect struct {
	bulk bulkPath
}

var _ sqlsink.Dialect = (*dialect)(nil)

func (*dialect) Quote(name string) string { return quote(name) }

func (*dialect) Param(n int) string { return "$" + strconv.Itoa(n) }

func (*dialect) Classify(err error) error { return classify(err) }

func (d *dialect) WriteRun(ctx context.Context, stx sqlsink.Tx, run []handlers.Op) error {
	tx := stx.(pgxTx).tx
	switch {
	case run[0].Delete || d.bulk == bulkValues:
		return sqlsink.ExecAll(ctx, stx, statements(run))
	case d.bulk == bulkPipeline:
		return pipeline(ctx, tx, run)
	default:
		return copyMerge(ctx, tx, connectors.LastPerKey(run))
	}
}

func (*dialect) CheckpointSQL() string {
	return "INSERT INTO " + sqlsink.CheckpointsTable + " (function_name, seq, updated_at) VALUES ($1, $2, now())" +
		" ON CONFLICT (function_name) DO UPDATE SET seq = GREATEST(" + sqlsink.CheckpointsTable + ".seq, EXCLUDED.seq), updated_at = EXCLUDED.updated_at"
}

// pipeline sends one single-row statement per op in one pgx.Batch.
func pipeline(ctx context.Context, tx pgx.Tx, ops []handlers.Op) error {
	b := &pgx.Batch{}
	for _, op := range ops {
		st := upsertSQL([]handlers.Op{op})
		b.Queue(st.SQL, st.Args...)
	}
	return tx.SendBatch(ctx, b).Close()
}

// copyMerge copies ops into a temporary table shaped like the target (in
// COPY's text format, so PostgreSQL parses every value as its column's
// type) and merges it with one INSERT ... SELECT ... ON CONFLICT.
func copyMerge(ctx context.Context, tx pgx.Tx, ops []handlers.Op) error {
	first := ops[0]
	cols := append(append([]handlers.Column{}, first.Key...), first.Values...)
	stage := quote("jetsync_stage_" + first.Table)
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE IF NOT EXISTS "+stage+" (LIKE "+quote(first.Table)+" INCLUDING DEFAULTS) ON COMMIT DROP"); err != nil {
		return err
	}
	var b strings.Builder
	for _, op := range ops {
		for i, c := range append(append([]handlers.Column{}, op.Key...), op.Values...) {
			if i > 0 {
				b.WriteByte('\t')
			}
			copyText(&b, c.Value)
		}
		b.WriteByte('\n')
	}
	list := columnList(cols)
	if _, err := tx.Conn().PgConn().CopyFrom(ctx, strings.NewReader(b.String()), "COPY "+stage+" ("+list+") FROM STDIN"); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+quote(first.Table)+" ("+list+") SELECT "+list+" FROM "+stage+conflictClause(first)); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "TRUNCATE "+stage)
	return err
}

// classify marks errors that this data can never get past as permanent;
// everything else (connections, timeouts, serialization failures,
// deadlocks, too many connections, shutdown, unknown) is transient.
func classify(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case strings.HasPrefix(pe.Code, "22"), // data exception: 22001 too long, 22P02 invalid text, 22003 out of range, 22007 bad datetime, 22021 bad bytes, ...
		pe.Code == "23502", // not null
		pe.Code == "23503", // foreign key
		pe.Code == "23505", // unique (another unique key)
		pe.Code == "23514", // check
		pe.Code == "23P01": // exclusion
		return handlers.Permanent(err)
	}
	return err
}

// Opener returns a handlers.Opener that opens a Sink with cfg, for
// handlers.Serve.
func Opener(cfg Config) handlers.Opener {
	return func(ctx context.Context, log *slog.Logger) (handlers.Sink, error) {
		return Open(ctx, cfg, log)
	}
}
