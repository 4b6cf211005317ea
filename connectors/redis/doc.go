// Package redis is the connector that writes into another Redis: each row
// becomes a hash under a key made from a template (JETSYNC_TARGET_REDIS_KEY,
// default "{table}:{key}"), holding the key columns and the mapped
// columns as fields; a NULL column is a field removed, a deleted row a
// deleted key. For a regional cache or a migration.
//
// A write is one Lua script, atomic in the target: it refuses the whole
// write when a change is not newer than the last one applied for its key
// (the per-key sequences live in the hash jetsync:applied:<function>, the
// checkpoint in jetsync:checkpoints), or when a target key holds another
// type than a hash (permanent: no retry can fix it); otherwise it writes
// every op, the sequences and the checkpoint. Values are stored as text:
// the target has no column types and no length limits, so nothing is
// refused for its value. A Redis Cluster as the target is not supported
// (the script touches keys of many slots). `jetsync-table verify` reads
// the hashes back in SCAN pages (read.go).
package redis
