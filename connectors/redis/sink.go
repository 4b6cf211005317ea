package redis

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/handlers"
)

//go:embed write.lua
var writeScript string

var write = goredis.NewScript(writeScript)

// The sink's own keys in the target: the hash of every function's
// checkpoint, and the prefix of each function's hash of applied sequences.
const (
	checkpoints = "jetsync:checkpoints"
	applied     = "jetsync:applied:"
)

// Sink writes rows into a Redis as hashes.
type Sink struct {
	cfg Config
	rdb *goredis.Client
}

// Open connects to the target Redis, waiting while it is unreachable (it
// stops at once on bad credentials). The password, or its file, is read
// for every new connection, so a rotated file needs no restart.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	secret := cfg.password()
	rdb := goredis.NewClient(&goredis.Options{
		Addr: cfg.Addr, DB: cfg.DB, DialTimeout: cfg.Timeout, ReadTimeout: cfg.Timeout, WriteTimeout: cfg.Timeout,
		CredentialsProviderContext: func(context.Context) (string, string, error) {
			pw, err := secret.Read()
			return cfg.Username, string(pw), err
		},
	})
	err := connectors.Connect(ctx, log, func(ctx context.Context) error { return rdb.Ping(ctx).Err() }, refused)
	if err != nil {
		rdb.Close()
		return nil, fmt.Errorf("target Redis at %s: %w", cfg.Addr, err)
	}
	return &Sink{cfg: cfg, rdb: rdb}, nil
}

// Opener returns a handlers.Opener that opens a Sink with cfg, for
// handlers.Serve.
func Opener(cfg Config) handlers.Opener {
	return func(ctx context.Context, log *slog.Logger) (handlers.Sink, error) { return Open(ctx, cfg, log) }
}

// refused reports whether no retry fixes a connection error: bad
// credentials or a missing permission.
func refused(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "WRONGPASS") || strings.HasPrefix(s, "NOPERM") || strings.HasPrefix(s, "NOAUTH")
}

// scriptOp is one op as the write script takes it.
type scriptOp struct {
	Key    string   `json:"k"`
	Delete bool     `json:"d"`
	Set    []string `json:"set"`
	Del    []string `json:"del"`
}

// Write applies w in one script: all or nothing (see the package doc).
func (s *Sink) Write(ctx context.Context, w handlers.Write) error {
	payload := struct {
		Fn      string     `json:"fn"`
		Changes [][2]any   `json:"changes"`
		Ops     []scriptOp `json:"ops"`
	}{Fn: w.Function, Changes: make([][2]any, len(w.Changes)), Ops: make([]scriptOp, len(w.Ops))}
	for i, c := range w.Changes {
		payload.Changes[i] = [2]any{c.Key, c.Seq}
	}
	for i, op := range w.Ops {
		payload.Ops[i] = s.scriptOp(op)
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return handlers.Permanent(err)
	}
	res, err := write.Run(ctx, s.rdb, nil, body).Slice()
	if err != nil {
		return fmt.Errorf("target Redis write: %w", err)
	}
	switch res[0] {
	case "ok":
		return nil
	case "stale":
		list, _ := res[1].([]any)
		se := &handlers.StaleError{}
		for _, v := range list {
			ks := fmt.Sprint(v)
			at := strings.LastIndexByte(ks, '@')
			seq, _ := strconv.ParseUint(ks[at+1:], 10, 64)
			se.Stale = append(se.Stale, handlers.KeySeq{Key: ks[:at], Seq: seq})
		}
		return se
	case "wrongtype":
		return handlers.Permanent(fmt.Errorf("target key %q holds a %v, not a hash", res[1], res[2]))
	}
	return fmt.Errorf("target Redis write answered %v", res)
}

// scriptOp turns op into its key and fields: the key columns are fields
// too, so that a row whose other columns are all NULL still exists.
func (s *Sink) scriptOp(op handlers.Op) scriptOp {
	key := make([]string, len(op.Key))
	for i, c := range op.Key {
		key[i], _ = text(c.Value)
	}
	so := scriptOp{Key: s.cfg.keyOf(op.Table, key), Delete: op.Delete, Set: []string{}, Del: []string{}}
	if op.Delete {
		return so
	}
	for i, c := range op.Key {
		so.Set = append(so.Set, c.Name, key[i])
	}
	for _, c := range op.Values {
		if v, ok := text(c.Value); ok {
			so.Set = append(so.Set, c.Name, v)
		} else {
			so.Del = append(so.Del, c.Name)
		}
	}
	return so
}

// text is a value as the target stores it; false for NULL (nil, or a nil
// pointer such as a typed getter's absent field).
func text(v any) (string, bool) {
	rv := reflect.ValueOf(v)
	for rv.IsValid() && rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "", false
		}
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return "", false
	}
	switch x := rv.Interface().(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), true
	default:
		return fmt.Sprint(x), true
	}
}

// Checkpoint is the highest sequence function applied (0: none).
func (s *Sink) Checkpoint(ctx context.Context, function string) (uint64, error) {
	v, err := s.rdb.HGet(ctx, checkpoints, function).Uint64()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	return v, err
}

// Forget drops function's sequences and checkpoint.
func (s *Sink) Forget(ctx context.Context, function string) error {
	pipe := s.rdb.TxPipeline()
	pipe.Del(ctx, applied+function)
	pipe.HDel(ctx, checkpoints, function)
	_, err := pipe.Exec(ctx)
	return err
}

// Truncate deletes every key of table (as the key template makes them),
// for `jetsync replay --truncate`.
func (s *Sink) Truncate(ctx context.Context, table string) error {
	iter := s.rdb.Scan(ctx, 0, s.cfg.tablePattern(table), 1000).Iterator()
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.rdb.Unlink(ctx, batch...).Err()
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 1000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	return flush()
}

// CheckTable has nothing to check: a Redis has no schema.
func (s *Sink) CheckTable(context.Context, string, []string, []string) error { return nil }

// Close closes the connection.
func (s *Sink) Close() error { return s.rdb.Close() }
