package mongodb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/handlers"
)

// Reading a collection back, for `jetsync-table verify`: pages of
// documents in _id order (each after the last _id of the one before), the
// documents of given keys, their count, and what a write would leave.
// Tombstones are not rows. Only collections keyed by one column are read
// (a table function's): their _id is that column's text, and a document
// whose _id is not a string is not one of their rows.

// Page returns up to n rows of shape in _id order: the first ones when
// after is nil, else those after the key after (the last row's Key of the
// page before).
func (s *Sink) Page(ctx context.Context, shape connectors.Shape, after []string, n int) ([]connectors.Row, error) {
	if err := oneKey(shape); err != nil {
		return nil, err
	}
	filter := rows
	if after != nil {
		filter = bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: after[0]}}}, live}
	}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(n)).SetProjection(projection(shape))
	return s.find(ctx, shape, filter, opts)
}

// Rows returns the rows of shape whose key is one of keys, in no
// particular order; a key without a document, or with a tombstone, has
// none.
func (s *Sink) Rows(ctx context.Context, shape connectors.Shape, keys [][]string) ([]connectors.Row, error) {
	if err := oneKey(shape); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, nil
	}
	ids := make(bson.A, len(keys))
	for i, k := range keys {
		ids[i] = k[0]
	}
	filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}, live}
	return s.find(ctx, shape, filter, options.Find().SetProjection(projection(shape)))
}

// Count returns how many rows table holds.
func (s *Sink) Count(ctx context.Context, table string) (int64, error) {
	c, err := s.connect(ctx, "")
	if err != nil {
		return 0, err
	}
	n, err := c.Database(s.cfg.Database).Collection(table).CountDocuments(ctx, rows)
	if err != nil {
		return 0, s.classify(fmt.Errorf("count the documents of %s: %w", table, err))
	}
	return n, nil
}

// Probe returns the rows ops (upserts of shape's collection) would leave,
// without writing them: a document holds each value as the sink stores it
// (value), so no round trip can tell more. Nothing is refused: MongoDB
// checks no types.
func (s *Sink) Probe(_ context.Context, shape connectors.Shape, ops []handlers.Op) ([]connectors.Row, error) {
	if err := oneKey(shape); err != nil {
		return nil, err
	}
	out := make([]connectors.Row, 0, len(ops))
	for _, op := range ops {
		if op.Delete || op.Table != shape.Table || len(op.Key) != 1 {
			return nil, errors.New("a probe writes upserts of its shape's collection only")
		}
		id, ok := value(op.Key[0].Value).(string)
		if !ok {
			return nil, fmt.Errorf("probe of %s: a key of %T: verify reads string keys only", shape.Table, op.Key[0].Value)
		}
		row := connectors.Row{Key: []string{id}, Values: make([]sql.NullString, len(shape.Columns))}
		for i, col := range shape.Columns {
			for _, c := range op.Values {
				if c.Name != col {
					continue
				}
				v := value(c.Value)
				if v == nil {
					break
				}
				t, b, err := bson.MarshalValue(v)
				if err != nil {
					return nil, handlers.Permanent(fmt.Errorf("probe of %s, column %s: %w", shape.Table, col, err))
				}
				row.Values[i] = text(bson.RawValue{Type: t, Value: b})
			}
		}
		out = append(out, row)
	}
	return out, nil
}

// live matches the documents that are not tombstones; rows those of them
// with a string _id: MongoDB compares values of one type only (so $gt of a
// string matches strings), and sorts every number before every string.
var (
	live = bson.E{Key: DeletedField, Value: bson.D{{Key: "$exists", Value: false}}}
	rows = bson.D{{Key: "_id", Value: bson.D{{Key: "$gte", Value: ""}}}, live}
)

// oneKey refuses a shape of more than one key column: verify reads a
// table function's collections, keyed by one.
func oneKey(shape connectors.Shape) error {
	if len(shape.Key) != 1 {
		return fmt.Errorf("collection %s: verify reads collections keyed by one column, not %d", shape.Table, len(shape.Key))
	}
	return nil
}

// projection reads _id and shape's columns.
func projection(shape connectors.Shape) bson.D {
	p := bson.D{{Key: "_id", Value: 1}}
	for _, c := range shape.Columns {
		p = append(p, bson.E{Key: c, Value: 1})
	}
	return p
}

// find reads the rows of shape's collection that filter matches.
func (s *Sink) find(ctx context.Context, shape connectors.Shape, filter bson.D, opts *options.FindOptionsBuilder) ([]connectors.Row, error) {
	c, err := s.connect(ctx, "")
	if err != nil {
		return nil, err
	}
	cur, err := c.Database(s.cfg.Database).Collection(shape.Table).Find(ctx, filter, opts)
	if err != nil {
		return nil, s.classify(fmt.Errorf("read the documents of %s: %w", shape.Table, err))
	}
	defer cur.Close(ctx)
	var out []connectors.Row
	for cur.Next(ctx) {
		id := text(cur.Current.Lookup("_id"))
		row := connectors.Row{Key: []string{id.String}, Values: make([]sql.NullString, len(shape.Columns))}
		for i, col := range shape.Columns {
			if v, err := cur.Current.LookupErr(col); err == nil {
				row.Values[i] = text(v)
			}
		}
		out = append(out, row)
	}
	if err := cur.Err(); err != nil {
		return nil, s.classify(fmt.Errorf("read the documents of %s: %w", shape.Table, err))
	}
	return out, nil
}

// text is a stored value as verify compares it: a string as itself, null
// as NULL, any other type named, so that 42 stored as a number is not the
// text "42" the sink writes: "32-bit integer 42", "boolean true", or the
// type and its extended JSON.
func text(v bson.RawValue) sql.NullString {
	var s string
	switch v.Type {
	case bson.TypeString:
		return sql.NullString{String: v.StringValue(), Valid: true}
	case bson.TypeNull, bson.TypeUndefined, 0:
		return sql.NullString{}
	case bson.TypeInt32:
		s = strconv.FormatInt(int64(v.Int32()), 10)
	case bson.TypeInt64:
		s = strconv.FormatInt(v.Int64(), 10)
	case bson.TypeDouble:
		s = strconv.FormatFloat(v.Double(), 'g', -1, 64)
	case bson.TypeBoolean:
		s = strconv.FormatBool(v.Boolean())
	default:
		s = v.String()
	}
	return sql.NullString{String: v.Type.String() + " " + s, Valid: true}
}
