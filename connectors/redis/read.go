package redis

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/handlers"
)

// Reading the target back, for `jetsync-table verify`: a table's rows are
// the hashes whose keys the key template makes for it. They have no
// order, so they are read in pages of a SCAN (its cursor carries on); a
// key of another type under the template is not a row, nor are the sink's
// own keys. Only tables keyed by one column are read (a table function's):
// a key of several columns' values joined by ':' cannot be split again.

// Scan returns the rows of the keys one SCAN call (from cursor, up to
// about n keys) finds under shape's table's key pattern, and the cursor of
// the next call: 0 when this was the last.
func (s *Sink) Scan(ctx context.Context, shape connectors.Shape, cursor uint64, n int) ([]connectors.Row, uint64, error) {
	if err := oneKey(shape); err != nil {
		return nil, 0, err
	}
	keys, next, err := s.rdb.Scan(ctx, cursor, s.cfg.tablePattern(shape.Table), int64(n)).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("target Redis: scan the keys of %s: %w", shape.Table, err)
	}
	var ids []string
	for _, k := range keys {
		if id, ok := s.cfg.idOf(shape.Table, k); ok {
			ids = append(ids, id)
		}
	}
	rows, err := s.read(ctx, shape, ids)
	return rows, next, err
}

// Rows returns the rows of shape whose key is one of keys, in no
// particular order; a key without a hash has none.
func (s *Sink) Rows(ctx context.Context, shape connectors.Shape, keys [][]string) ([]connectors.Row, error) {
	if err := oneKey(shape); err != nil {
		return nil, err
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k[0]
	}
	return s.read(ctx, shape, ids)
}

// Count returns how many keys the key template makes for table: a SCAN of
// the whole database, which does not read the keys (one of another type
// counts too).
func (s *Sink) Count(ctx context.Context, table string) (int64, error) {
	var n int64
	iter := s.rdb.Scan(ctx, 0, s.cfg.tablePattern(table), 1000).Iterator()
	for iter.Next(ctx) {
		if _, ok := s.cfg.idOf(table, iter.Val()); ok {
			n++
		}
	}
	if err := iter.Err(); err != nil {
		return 0, fmt.Errorf("target Redis: count the keys of %s: %w", table, err)
	}
	return n, nil
}

// Probe returns the rows ops (upserts of shape's table) would leave,
// without writing them: the hash holds each value as text (text), so only
// the key's type needs the server: a key that holds another type than a
// hash refuses the write for good (handlers.ErrPermanent), as Write does.
func (s *Sink) Probe(ctx context.Context, shape connectors.Shape, ops []handlers.Op) ([]connectors.Row, error) {
	if err := oneKey(shape); err != nil {
		return nil, err
	}
	out := make([]connectors.Row, len(ops))
	pipe := s.rdb.Pipeline()
	types := make([]*goredis.StatusCmd, len(ops))
	for i, op := range ops {
		if op.Delete || op.Table != shape.Table || len(op.Key) != 1 {
			return nil, errors.New("a probe writes upserts of its shape's table only")
		}
		id, _ := text(op.Key[0].Value)
		out[i] = connectors.Row{Key: []string{id}, Values: make([]sql.NullString, len(shape.Columns))}
		for j, col := range shape.Columns {
			for _, c := range op.Values {
				if c.Name == col {
					out[i].Values[j].String, out[i].Values[j].Valid = text(c.Value)
				}
			}
		}
		types[i] = pipe.Type(ctx, s.cfg.keyOf(shape.Table, []string{id}))
	}
	if len(ops) == 0 {
		return nil, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("target Redis: the types of %d keys: %w", len(ops), err)
	}
	for i, t := range types {
		if typ := t.Val(); typ != "none" && typ != "hash" {
			return nil, handlers.Permanent(fmt.Errorf("target key %q holds a %s, not a hash", s.cfg.keyOf(shape.Table, out[i].Key), typ))
		}
	}
	return out, nil
}

// read returns the rows of the ids of shape's table: one pipelined HGETALL
// of their keys. A key without fields has no row, nor has one of another
// type than a hash.
func (s *Sink) read(ctx context.Context, shape connectors.Shape, ids []string) ([]connectors.Row, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*goredis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, s.cfg.keyOf(shape.Table, []string{id}))
	}
	_, _ = pipe.Exec(ctx) // each command's error is looked at below
	out := make([]connectors.Row, 0, len(ids))
	for i, cmd := range cmds {
		fields, err := cmd.Result()
		if err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE") {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("target Redis: read %d keys of %s: %w", len(ids), shape.Table, err)
		}
		if len(fields) == 0 {
			continue
		}
		row := connectors.Row{Key: []string{ids[i]}, Values: make([]sql.NullString, len(shape.Columns))}
		for j, col := range shape.Columns {
			row.Values[j].String, row.Values[j].Valid = fields[col]
		}
		out = append(out, row)
	}
	return out, nil
}

// oneKey refuses a shape of more than one key column (see above).
func oneKey(shape connectors.Shape) error {
	if len(shape.Key) != 1 {
		return fmt.Errorf("table %s: verify reads tables keyed by one column, not %d", shape.Table, len(shape.Key))
	}
	return nil
}
