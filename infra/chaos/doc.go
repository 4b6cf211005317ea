// Package chaos runs jetsync as deployed (a redis-server of its own, a
// 3-node nats-server cluster, an HA pair of bridges and two instances of each of three
// table functions as separate processes; MariaDB and each bridge's NATS link
// behind TCP proxies this package owns) under a sustained, bounded mixed load
// of upserts, field removals and deletes, on a prefix in notification mode
// and one in journal mode, and injects faults in turn at random moments
// (FaultKinds): SIGKILL or SIGTERM of the active bridge and restart, its
// NATS link black-holed, SIGKILL of the functions and restart, a NATS node
// SIGKILLed and restarted, a stream leader step-down,
// restart of a NATS node (same port and store), a MariaDB outage (every
// connection cut), a Redis restart (notifications come back off) and a Redis
// kept busy by a long script. While it runs it samples the table for rows
// that go back to an older change. It then stops the load, waits until
// everything is drained and compares every key, Redis against the table,
// and the history table of the append-mode function for duplicate stream
// sequences.
//
// Keys deleted while no bridge was subscribed are the one allowed
// mismatch (keyspace notifications are at-most-once and a resync cannot see
// a key that is gone): the load logs every delete with its time and the
// run logs the bridge's down intervals, so those are counted on their own.
//
// The command is infra/cmd/jetsync-chaos (go tool task chaos).
package chaos
