// Package bench measures jetsync end to end on one machine, in one run,
// against that machine's own ceilings: it builds and runs a nats-server, the
// bridge and table functions as separate processes (as deployed), loads
// Redis, and reports drain throughput (with and without coalescing), the
// time until every key's final value is committed, latency from HSET to
// commit at a paced load, direct MariaDB and JetStream ceilings, and each
// process's peak RSS and CPU seconds per 1,000 changes.
//
// The command is infra/cmd/jetsync-bench (go tool task bench).
package bench
