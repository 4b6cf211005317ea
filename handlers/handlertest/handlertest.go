// Package handlertest is the test kit for function authors: feed changes to
// a function and check the rows it wrote in a real database, without NATS
// or Redis. It runs the same path as the runtime — coalescing per key, one
// transaction per batch, isolation of changes that fail for good — through
// handlers.Apply, only without retries.
//
//	func TestMyFunction(t *testing.T) {
//		sink, _ := mysql.Open(ctx, mysql.Config{...}, slog.Default())
//		kit := handlertest.New(t, MyFunction{}, sink)
//		kit.Upsert("person:5", map[string]string{"first_name": "Marek", "age": "27"})
//		kit.Delete("person:6")
//		if dls := kit.Flush(); len(dls) != 0 { t.Fatal(dls) }
//		// now query the table and compare
//	}
package handlertest

import (
	"context"
	"testing"
	"time"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/handlers"
)

// Kit feeds changes to one function.
type Kit struct {
	t       testing.TB
	fn      handlers.Function
	sink    handlers.Sink
	seq     uint64
	pending []handlers.Change
	// Now is the time changes are stamped with (the bridge's "seen").
	Now func() time.Time
}

// New returns a kit for fn writing through sink; the sink is closed when
// the test ends.
func New(t testing.TB, fn handlers.Function, sink handlers.Sink) *Kit {
	t.Cleanup(func() { sink.Close() })
	return &Kit{t: t, fn: fn, sink: sink, Now: time.Now}
}

// Upsert queues an upsert of key with the whole hash fields.
func (k *Kit) Upsert(key string, fields map[string]string) *Kit {
	k.t.Helper()
	return k.add(key, change.Upsert, fields)
}

// Delete queues a delete of key.
func (k *Kit) Delete(key string) *Kit {
	k.t.Helper()
	return k.add(key, change.Delete, nil)
}

func (k *Kit) add(key string, op change.Op, fields map[string]string) *Kit {
	k.t.Helper()
	c, err := change.New(key, op, fields, k.Now().UTC())
	if err != nil {
		k.t.Fatalf("handlertest: %v", err)
	}
	k.seq++
	k.pending = append(k.pending, handlers.Change{Change: c, Seq: k.seq, StreamSeq: k.seq, Subject: change.Subject(c.Prefix, c.ID)})
	return k
}

// Flush applies the queued changes as one batch and returns the changes
// that went to the dead letters, with their reasons. A transient failure
// (the database is unreachable, ...) fails the test.
func (k *Kit) Flush() []handlers.DeadLetter {
	k.t.Helper()
	changes := k.pending
	k.pending = nil
	dls, err := handlers.Apply(context.Background(), k.fn, k.sink, changes)
	if err != nil {
		k.t.Fatalf("handlertest: transient failure: %v", err)
	}
	return dls
}
