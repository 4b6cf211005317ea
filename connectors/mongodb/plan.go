package mongodb

import (
	"fmt"
	"math"
	"reflect"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/handlers"
)

// doc is what one write does to one document: the ops of its row folded
// in order into one upsert (fields set and removed, on the document as it
// is or, after a delete in the same write, on an empty one) or one delete
// (a tombstone), under the newest sequence of those ops.
type doc struct {
	id      any
	seq     uint64
	changes []int // indexes into the write's Changes, for a StaleError
	delete  bool
	// replace: a delete came first in this write, so the fields the
	// document had before are gone.
	replace bool
	set     bson.D
	unset   []string
	deleted time.Time
	// maybeRan: sent again after an earlier round's error, though it may
	// have been written then.
	maybeRan bool
}

// written is a write turned into documents, per collection in the order
// the collections first appear.
type written struct {
	tables []string
	docs   map[string][]*doc
}

// plan folds w's ops into one doc per row (see doc). now is the time a
// tombstone records.
func plan(w handlers.Write, keyFields bool, now time.Time) written {
	src := connectors.OpSources(w)
	p := written{docs: map[string][]*doc{}}
	byRow := map[string]*doc{}
	for i, op := range w.Ops {
		row := op.Table + "\x00" + connectors.KeyString(op.Key)
		d := byRow[row]
		if d == nil {
			d = &doc{id: idOf(op.Key)}
			byRow[row] = d
			if len(p.docs[op.Table]) == 0 {
				p.tables = append(p.tables, op.Table)
			}
			p.docs[op.Table] = append(p.docs[op.Table], d)
		}
		d.seq = max(d.seq, src[i].Seq)
		d.changes = append(d.changes, src[i].Changes...)
		if op.Delete {
			d.delete, d.set, d.unset, d.deleted = true, nil, nil, now
			continue
		}
		if d.delete {
			d.delete, d.replace = false, true
		}
		if keyFields {
			for _, c := range op.Key {
				d.put(c.Name, value(c.Value))
			}
		}
		for _, c := range op.Values {
			d.put(c.Name, value(c.Value))
		}
	}
	return p
}

// put records field's new value; nil removes the field.
func (d *doc) put(field string, v any) {
	for i := range d.set {
		if d.set[i].Key == field {
			d.set = append(d.set[:i], d.set[i+1:]...)
			break
		}
	}
	for i := range d.unset {
		if d.unset[i] == field {
			d.unset = append(d.unset[:i], d.unset[i+1:]...)
			break
		}
	}
	if v == nil {
		d.unset = append(d.unset, field)
	} else {
		d.set = append(d.set, bson.E{Key: field, Value: v})
	}
}

// filter matches the document only while it holds an older change (or
// none): when it holds this one or a newer one, the upsert tries to insert
// a second document with the same _id and is refused with a duplicate key,
// which apply reads as stale.
func (d *doc) filter() bson.D {
	return bson.D{{Key: "_id", Value: d.id}, {Key: "$or", Value: bson.A{
		bson.D{{Key: SeqField, Value: bson.D{{Key: "$lt", Value: int64(d.seq)}}}},
		bson.D{{Key: SeqField, Value: bson.D{{Key: "$exists", Value: false}}}},
	}}}
}

// model is the upsert that applies d; guarded, only over an older change.
func (d *doc) model(guarded bool) mongo.WriteModel {
	seq := bson.E{Key: SeqField, Value: int64(d.seq)}
	filter := d.filter()
	if !guarded {
		filter = filter[:1]
	}
	switch {
	case d.delete:
		return mongo.NewReplaceOneModel().SetFilter(filter).SetUpsert(true).
			SetReplacement(bson.D{seq, {Key: DeletedField, Value: d.deleted}})
	case d.replace:
		return mongo.NewReplaceOneModel().SetFilter(filter).SetUpsert(true).
			SetReplacement(append(append(bson.D{}, d.set...), seq))
	}
	update := bson.D{{Key: "$set", Value: append(append(bson.D{}, d.set...), seq)}}
	unset := bson.D{{Key: DeletedField, Value: ""}}
	for _, f := range d.unset {
		unset = append(unset, bson.E{Key: f, Value: ""})
	}
	update = append(update, bson.E{Key: "$unset", Value: unset})
	return mongo.NewUpdateOneModel().SetFilter(filter).SetUpdate(update).SetUpsert(true)
}

// idOf is a row's _id: the value of its one key column, or a document of
// its key columns in order.
func idOf(key []handlers.Column) any {
	if len(key) == 1 {
		return value(key[0].Value)
	}
	id := make(bson.D, len(key))
	for i, c := range key {
		id[i] = bson.E{Key: c.Name, Value: value(c.Value)}
	}
	return id
}

// value is v as the document stores it: strings, integers, floats,
// booleans, times and bytes as themselves (an unsigned integer past
// int64 as its decimal text); nil, or a nil pointer (a typed getter's
// absent field), is nil: the field is removed.
func value(v any) any {
	rv := reflect.ValueOf(v)
	for rv.IsValid() && rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return nil
	}
	switch rv.Kind() {
	case reflect.String:
		return rv.String()
	case reflect.Bool:
		return rv.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if u := rv.Uint(); u <= math.MaxInt64 {
			return int64(u)
		}
		return fmt.Sprint(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	}
	switch x := rv.Interface().(type) {
	case []byte:
		return bson.Binary{Data: x}
	case time.Time:
		return x.UTC()
	default:
		return fmt.Sprint(x)
	}
}
