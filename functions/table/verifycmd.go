package table

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge/streams"
	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/infra/platform"
)

// Exit statuses of verify.
const (
	VerifyEqual   = 0 // the table equals Redis
	VerifyDiffers = 1 // confirmed differences
	VerifyFailed  = 2 // a usage error, or verify could not run
)

// RunVerify is `jetsync-table verify` with cfg, the function's own
// configuration: it verifies the table, prints the report to out (text,
// or JSON with opts.JSON) and progress and errors to errOut, and returns
// the exit status.
func RunVerify(ctx context.Context, cfg Config, opts VerifyOptions, out, errOut io.Writer, log *slog.Logger) int {
	r, err := verify(ctx, cfg, opts, errOut, log, verifyHooks{})
	return printVerify(r, err, opts, out, errOut)
}

// printVerify prints what verify returned and gives its exit status; a
// report is printed even when repair failed after the walk.
func printVerify(r Report, err error, opts VerifyOptions, out, errOut io.Writer) int {
	if r.Function != "" {
		if opts.JSON {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			_ = enc.Encode(r)
		} else {
			r.WriteText(out)
		}
	}
	if err != nil {
		fmt.Fprintf(errOut, "jetsync-table verify: %s\n", platform.Redact(err.Error()))
		return VerifyFailed
	}
	if r.Total() > 0 {
		return VerifyDiffers
	}
	return VerifyEqual
}

// verifyHooks are the verifier's test hooks (see verifier).
type verifyHooks struct {
	noRecheck     bool
	beforeRecheck func()
}

// verify reaches the table, Redis and NATS with cfg and runs the verifier;
// it stores the result for the function's metrics and, with opts.Repair,
// asks the bridge for repairs.
func verify(ctx context.Context, cfg Config, opts VerifyOptions, progress io.Writer, log *slog.Logger, hooks verifyHooks) (Report, error) {
	fn, open, err := Build(cfg)
	if err != nil {
		return Report{}, fmt.Errorf("configuration: %w", err)
	}
	if fn.Append {
		return Report{}, errors.New("configuration: JETSYNC_MODE=append: verify compares one row per key, and a history table has one per change")
	}
	if err := cfg.Source.Validate(); err != nil {
		return Report{}, fmt.Errorf("configuration: %w", err)
	}
	began := time.Now()
	opening, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sink, err := open(opening, log)
	if err != nil {
		return Report{}, fmt.Errorf("database: %w", err)
	}
	defer sink.Close()
	db, ok := readerOf(sink)
	if !ok {
		return Report{}, fmt.Errorf("configuration: JETSYNC_CONNECTOR=%s: verify reads the SQL tables (mysql, postgres, sqlite, mssql, oracle), MongoDB and the Redis target only", cfg.Connector)
	}
	rdb := cfg.Source.Client(4, log)
	defer rdb.Close()
	if err := rdb.Ping(opening).Err(); err != nil {
		return Report{}, fmt.Errorf("Redis at %s (JETSYNC_REDIS_*): %w", cfg.Source.Where(), err)
	}
	nc, err := cfg.NATS.Connect("jetsync-table-verify-"+cfg.Name, log)
	if err != nil {
		return Report{}, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return Report{}, err
	}
	total, err := db.Count(ctx, fn.Name)
	if err != nil {
		return Report{}, err
	}
	v := &verifier{
		fn: fn, prefix: cfg.Prefix, function: cfg.Name, kind: cfg.ValueType,
		shape: shapeOf(fn), rdb: rdb, db: db, js: js, stream: cfg.Stream,
		maxPayload: nc.MaxPayload(), settle: opts.Settle, log: log,
		noRecheck: hooks.noRecheck, beforeRecheck: hooks.beforeRecheck,
	}
	if v.kind == "" {
		v.kind = "hash"
	}
	var rep *repairer
	if opts.Repair {
		rep = newRepairer(nc, cfg.Prefix, opts.Yes, opts.DeleteGone)
	}
	stop := v.progress(progress, total)
	counts, ex, rechecked, err := v.run(ctx, opts.Examples, func(d Difference) error {
		if rep == nil {
			return nil
		}
		return rep.add(ctx, d)
	})
	stop()
	if err != nil {
		return Report{}, err
	}
	r := Report{Connector: cfg.Connector, Examples: ex, Rechecked: rechecked}
	r.Function, r.Prefix, r.Table = cfg.Name, cfg.Prefix, fn.Name
	r.Keys, r.Rows, r.Differences = v.keys.Load(), v.rows.Load(), counts
	r.Time, r.Seconds = began.UTC(), time.Since(began).Seconds()
	if err := streams.SaveVerifyResult(ctx, js, streams.StreamReplicas(ctx, js, cfg.Stream), r.VerifyResult); err != nil {
		log.Warn("verify: the result is not stored; the function's jetsync_verify_* metrics keep the last one", "err", err)
	}
	if rep != nil {
		if err := rep.flush(ctx); err != nil {
			return r, err // the report without a repair: the error says what was done
		}
		r.Repair = &rep.sum
	}
	return r, nil
}

// shapeOf is what verify reads of fn's table: the key column and the
// mapped columns, in the mapping's order.
func shapeOf(fn Table) connectors.Shape {
	return connectors.Shape{Table: fn.Name, Key: []string{fn.KeyColumn}, Columns: fn.Mapping.Columns()}
}
