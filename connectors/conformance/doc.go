// Package conformance is the test suite every connector passes against a
// real server, in the manner of watermill's pubsub/tests: one Run, called
// from each connector's tests with a Harness that knows how to open that
// connector's sink, create and drop a table from a portable column spec, and
// read rows back.
//
// The suite covers insert, update, partial update (a field removed becomes
// NULL), delete, several changes of one key in one write (the last counts),
// idempotent redelivery, the exactly-once checkpoint of transactional
// targets, append-style writes, error classes (a too-long and a wrong-typed
// value are permanent, an unreachable server transient), identifiers that
// need quoting, unicode and 1 MiB values, and a 10,000-op write.
//
// Where a database truly differs, the Harness declares it in Capabilities
// (for example Cassandra orders writes by timestamp instead of guarding
// sequences), and the suite checks the behaviour that target promises.
package conformance
