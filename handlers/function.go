package handlers

import (
	"context"
	"errors"
	"fmt"
)

// Function turns a batch of changes into rows to write. Handle describes the
// writes with Batch.Upsert and Batch.Delete, or refuses a change for good with
// Batch.Fail; the runtime writes everything in one transaction. Handle may be
// called again with the same changes or a part of them (after a failed write,
// or to isolate a change that fails), so it must have no other side effects.
//
// A returned error that wraps ErrPermanent says the batch can never be
// applied; the runtime then narrows it down to the guilty change. Any other
// error is retried.
type Function interface {
	Handle(ctx context.Context, b *Batch) error
}

// Named is implemented by a function that carries its own name and version.
// JETSYNC_FUNCTION_NAME and JETSYNC_FUNCTION_VERSION, when set, win.
type Named interface {
	Name() string
	Version() string
}

// FunctionFunc adapts a plain func to Function.
type FunctionFunc func(ctx context.Context, b *Batch) error

// Handle calls f.
func (f FunctionFunc) Handle(ctx context.Context, b *Batch) error { return f(ctx, b) }

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
	failed  []DeadLetter
}

// DeadLetter is a change that can never be applied, and why.
type DeadLetter struct {
	Change Change
	Err    error
}

// Fail refuses c for good: it goes to the dead-letter stream with reason,
// and the other changes of the batch are written. Write nothing for c.
func (b *Batch) Fail(c Change, reason error) {
	if reason == nil {
		reason = errors.New("refused by the function")
	}
	b.failed = append(b.failed, DeadLetter{Change: c, Err: Permanent(reason)})
}

// Failf is Fail with a formatted reason.
func (b *Batch) Failf(c Change, format string, args ...any) {
	b.Fail(c, fmt.Errorf(format, args...))
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
