// Package cassandra is the Apache Cassandra (and ScyllaDB) connector
// (gocql).
//
// Cassandra has no multi-statement transactions, so this connector does not
// keep sequence guards or a checkpoint. Instead every statement carries
// USING TIMESTAMP derived from the stream sequence of the change it comes
// from: Cassandra keeps, per cell, the write with the highest timestamp, and
// a delete shadows everything older than it. So a redelivered, replayed or
// overtaken change, applied by any instance in any order, never wins over a
// newer one, and a delete cannot be undone by an older upsert. The
// timestamps are not wall-clock times: a table written by jetsync must not
// also be written by other clients with default (current-time) timestamps,
// which would always win.
//
// An op's sequence is that of the change whose id appears among the op's key
// values (the table function and the examples key rows by the id); an op
// whose key holds no change's id gets the highest sequence of its write.
// Within a write, the ops of one row get increasing timestamps in their
// order. See ARCHITECTURE.md for the trade-off.
//
// Statements are prepared (gocql prepares and caches every statement with
// bind markers) and grouped into unlogged batches per partition: one
// partition's batch is applied atomically and in one round trip, and no
// batch spans partitions (a multi-partition batch only burdens its
// coordinator). Batches are kept under MaxBatch statements and 40 KiB;
// larger values go alone. The partitions of a write are written
// concurrently. Consistency, hosts, authentication and TLS come from
// JETSYNC_CASSANDRA_*; the password is read again for every new
// connection.
//
// Errors: a value of the wrong type (refused by the driver's marshalling)
// and a request the server finds invalid for its data are permanent;
// timeouts, unavailable replicas, overload, connection failures, schema
// problems and anything unknown are transient.
package cassandra
