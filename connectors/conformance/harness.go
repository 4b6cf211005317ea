package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/jetsync/jetsync/handlers"
)

// Type is a portable column type; each harness maps it to its database.
type Type int

const (
	// String is a short string of at most Column.Size characters; a longer
	// value must be refused (when Capabilities.LengthLimit).
	String Type = iota
	// Int is a 32-bit integer; a value that is not a number must be refused.
	Int
	// BigInt is a 64-bit integer (sequence columns of append tables).
	BigInt
	// LongText holds at least 2 MiB of text.
	LongText
)

// Column is one column of a test table.
type Column struct {
	Name string
	Type Type
	// Size is the length limit of a String.
	Size int
}

// Table is a test table: Key columns form the primary key, in order.
type Table struct {
	// Base is the start of the table's name; the harness adds a unique
	// suffix (and may have to simplify it where the database does not take
	// every name, as Cassandra).
	Base    string
	Key     []Column
	Columns []Column
}

// All returns the key columns, then the others.
func (t Table) All() []Column { return append(append([]Column{}, t.Key...), t.Columns...) }

// Null is how Read spells SQL NULL.
const Null = "NULL"

// Harness is what a connector gives the suite.
type Harness struct {
	// Open opens a sink; it is closed by the suite. addr is "" for the
	// test server, or the address of a proxy in front of it (see Addr).
	Open func(t *testing.T, addr string) handlers.Sink
	// CreateTable creates spec under a unique name, drops it when the test
	// ends, and returns the name as ops give it.
	CreateTable func(t *testing.T, spec Table) string
	// Read returns every row of table, ordered by the key, each row the
	// spec's columns (All) in order as text: integers in decimal, NULL as
	// Null.
	Read func(t *testing.T, table string, spec Table) [][]string
	// Refused, when set, returns an op on row "e" of table that the target
	// refuses for good; by default an INT column given "not a number".
	Refused func(t *testing.T, table string) handlers.Op
	// Addr is the server's host:port, for the outage test through a
	// testenv.Proxy; empty when the target has no server (then Outage).
	Addr string
	Caps Capabilities
	// Isolations, when set, are the transaction isolation levels the guard
	// tests run under, each with sinks from OpenIsolated: the guards must
	// hold under every level a server may be set to.
	Isolations   []string
	OpenIsolated func(t *testing.T, isolation string) handlers.Sink
	// SlowGuard, when set, makes s pause for pause between its guard and
	// its rows and, with unlocked, read the applied orders without claiming
	// the keys (sqlsink.WithSlowGuard): ConcurrentInstances then widens its
	// race, and ConcurrentInstancesControl shows that the claim closes it.
	SlowGuard func(s handlers.Sink, pause time.Duration, unlocked bool)
}

// Capabilities say where a target's promises differ.
type Capabilities struct {
	// Guards: the sink keeps per-key sequence guards and a checkpoint in
	// the same transaction as the rows (the SQL targets): stale changes
	// are refused with a *handlers.StaleError and a failed write changes
	// nothing. The sink must implement Checkpointer.
	Guards bool
	// RowGuards: the target has no transactions and keeps the sequence of
	// each row's last change in the row itself (MongoDB): a stale change is
	// refused row by row and named in a *handlers.StaleError with Applied
	// set, the write's other rows are written, and guards are per row, not
	// per function. No checkpoint.
	RowGuards bool
	// Timestamps: instead of guards the target orders writes by a
	// timestamp taken from the stream sequence (Cassandra): a stale change
	// is accepted and loses silently.
	Timestamps bool
	// LengthLimit: the target refuses a String longer than its Size.
	LengthLimit bool
	// Untyped: the target stores every value as text (Redis), so nothing
	// is refused for its type; its atomicity is proven by its own tests.
	Untyped bool
	// Identifiers are column names that need quoting, replacing the
	// suite's default set when the target cannot store some of them.
	Identifiers []string
	// Outage, when set, opens a sink and returns how to make the target
	// unavailable to it (cut) and available again (restore), for targets
	// without a server, such as SQLite: a lock held by another connection.
	// When nil, the suite puts a testenv.Proxy in front of Addr.
	Outage func(t *testing.T) (s handlers.Sink, cut, restore func())
	// Scale, above 1, runs the tests that write thousands of rows
	// (TenThousandOps, ConcurrentInstances and its control) at 1/Scale of
	// their size, for a test server that is slow by design: FerretDB 1.x
	// reads the whole collection for every update by _id, so a write costs
	// as much as the collection is large.
	Scale int
}

// scaled is n at the target's Scale.
func (c Capabilities) scaled(n int) int { return n / max(c.Scale, 1) }

// Checkpointer is implemented by sinks that keep a checkpoint.
type Checkpointer interface {
	Checkpoint(ctx context.Context, function string) (uint64, error)
	Forget(ctx context.Context, function string) error
}
