// Package mongodb is the MongoDB connector (go.mongodb.org/mongo-driver/v2):
// each table is a collection of the database JETSYNC_MONGODB_DATABASE, each
// row a document whose _id is the row's key (the key column's value, or a
// document of the key columns in order) and which also holds the key
// columns as fields (JETSYNC_MONGODB_KEY_FIELDS). An upsert $sets the
// mapped fields; a field that became NULL (removed from the hash) is
// $unset, not set to null: a document holds only what the hash holds, as
// MongoDB users expect, and a query for {field: null} still finds it.
//
// # Order without transactions
//
// Multi-document transactions need a replica set (and FerretDB 1.x has
// none), so the guard lives in the document itself: SeqField holds the
// stream sequence of its last change, and every write is an upsert whose
// filter only matches a document with an older sequence (or none). A
// change that is not newer finds no match, its upsert tries to insert a
// second document with the same _id and is refused with a duplicate key;
// the sink reads the stored sequence and reports the change as stale. So a
// redelivered, replayed or overtaken change, written by any instance, never
// replaces a newer one. A delete leaves a tombstone (_id, SeqField and
// DeletedField, nothing else) so that an older upsert arriving later cannot
// bring the row back; a TTL index removes tombstones after
// JETSYNC_MONGODB_TOMBSTONE_TTL. Readers skip documents that have
// DeletedField, as `jetsync-table verify` does when it reads a collection
// back (read.go: pages in _id order).
//
// An op's sequence is that of the change whose id is among the op's key
// values (connectors.OpSources); one write's ops of one row are folded into
// one document update in their order. The rows of a write go as one
// unordered bulk write per collection: each row is atomic, the write is
// not (JETSYNC_MONGODB_BULK_SIZE bounds the ops of one command; a larger
// write goes as several, which keeps each row's order as each row is one
// op). Rows the guard refuses are named in a *handlers.StaleError with
// Applied set (the other rows are written); a row the server refuses for
// good makes the write fail as permanent after the other rows are written,
// and the runtime narrows it down to that change, the rest being stale by
// then. There is no checkpoint: guards are per document, not per function,
// so one collection is written by one function.
//
// Errors: a duplicate key the sequence does not explain (a unique index of
// the collection), a document over 16 MiB, a field name MongoDB refuses
// ($-prefixed, empty) and a document validation failure are permanent;
// network errors, timeouts, not-primary, write-concern errors and anything
// unknown are transient. The URI (or its file, JETSYNC_MONGODB_URI_FILE) is
// read again when a write fails for its connection.
//
// # Tested on FerretDB
//
// The conformance suite runs against FerretDB 1.24 on PostgreSQL, which
// the tests build from infra/testenv/ferretdb (a module of its own). Where
// FerretDB differs from MongoDB, as found by those tests:
//   - each update of an existing document keeps one connection of
//     FerretDB's PostgreSQL pool (50) until its update command ends, so a
//     command of more such updates than the pool holds never answers: keep
//     JETSYNC_MONGODB_BULK_SIZE at 16 or less on FerretDB 1.x (the tests
//     do);
//   - an unordered bulk write stops at its first error, like an ordered
//     one; the sink sends the ops after it again, which also serves
//     MongoDB, where they ran;
//   - there are no TTL indexes: tombstones are kept (logged once per
//     collection);
//   - a field name holding a double quote fails with an internal error
//     (transient here, so such a change waits instead of being lost);
//   - documents over 16 MiB are accepted;
//   - on its SQLite backend every write waits for the disk (tens of
//     milliseconds per document here), which is why the tests use
//     PostgreSQL.
//
// What the suite cannot show on FerretDB, so only the gated run against
// MongoDB does: the TTL index removing tombstones, the refusal of a
// document over 16 MiB, and the error classes of a replica set
// (not-primary, write-concern timeout), which are classified by their
// codes but never raised here.
//
// The same suite runs against a real MongoDB when JETSYNC_TEST_MONGODB_URI
// is set.
package mongodb
