// Package handlers is the runtime of jetsync functions and the API they are
// written against.
//
// A function receives a batch of changes of one key prefix and says what to
// write: upserts and deletes of rows, in one or several tables. The runtime
// does the rest: it consumes the function's durable JetStream consumer,
// batches, coalesces changes per key (the last one wins), writes the
// function's rows through a Sink in one transaction, acks after the commit,
// retries transient failures with backoff for as long as it takes while
// keeping the messages' ack deadline alive, isolates a change that can never
// be applied and sends it to the dead-letter stream with its reason, and
// stops gracefully.
//
// The generic table function (functions/table) is written on this API, like
// any custom function.
package handlers
