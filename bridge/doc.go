// Package bridge turns Redis keyspace notifications into changes on NATS
// JetStream.
//
// For each configured key prefix it subscribes to the keyspace channel
// pattern "__keyspace@<db>__:<prefix>:*". A notification only says that a key
// changed, so the bridge marks the key dirty and a worker reads the key's
// current value and publishes it: an upsert with the whole hash when the key
// exists, a delete when it is gone after a deletion event (DEL, UNLINK,
// RENAME away, and, when configured, expiry or eviction).
//
// Keys are sharded over workers by hash, so one key is only ever handled by
// one worker, one batch at a time: changes of a key reach the stream in the
// order the bridge read them. A worker pipelines its reads, publishes the
// batch asynchronously with a Nats-Msg-Id on every message, and waits for all
// PubAcks before it takes the next batch; a failed publish is retried with the
// same id, so a retry is never stored twice.
//
// Keyspace notifications are at-most-once. After every (re)subscription the
// bridge resyncs: it SCANs each prefix and publishes the current state of
// every key, so an upsert made while it was away is not lost.
package bridge
