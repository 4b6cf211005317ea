package handlers

import (
	"context"

	"github.com/jetsync/jetsync/bridge/change"
)

// Function turns a batch of changes into rows to write. Handle must only
// describe the writes (with Batch.Upsert and Batch.Delete); the runtime
// writes them in one transaction. Handle may be called again with a part of
// the batch, to isolate a change that fails, so it must not have other side
// effects.
//
// A returned error that wraps ErrPermanent says the batch can never be
// applied; the runtime then narrows it down to the guilty change. Any other
// error is retried.
type Function interface {
	Handle(ctx context.Context, b *Batch) error
}

// FunctionFunc adapts a plain func to Function.
type FunctionFunc func(ctx context.Context, b *Batch) error

// Handle calls f.
func (f FunctionFunc) Handle(ctx context.Context, b *Batch) error { return f(ctx, b) }

// Change is a change as a function sees it: the bridge's change plus where
// it sits in the stream.
type Change struct {
	change.Change
	// Seq is the change's stream sequence.
	Seq uint64
	// Subject is the subject it was published on.
	Subject string
}

// Column is a column name and its value; a nil Value is NULL.
type Column struct {
	Name  string
	Value any
}

// Op is one row to upsert or delete.
type Op struct {
	Delete bool
	Table  string
	// Key identifies the row: its primary (or unique) key columns.
	Key []Column
	// Values are the other columns of an upsert. Columns not named here are
	// left as they are.
	Values []Column
}

// Batch is what a function gets: the changes, at most one per key, in stream
// order of their last change; and the writes it asks for.
type Batch struct {
	Changes []Change
	ops     []Op
}

// Upsert asks for the row with key in table to be inserted or, when it
// exists, updated with values.
func (b *Batch) Upsert(table string, key, values []Column) {
	b.ops = append(b.ops, Op{Table: table, Key: key, Values: values})
}

// Delete asks for the row with key in table to be deleted.
func (b *Batch) Delete(table string, key []Column) {
	b.ops = append(b.ops, Op{Delete: true, Table: table, Key: key})
}

// Ops returns the writes asked for so far.
func (b *Batch) Ops() []Op { return b.ops }
