// Package harness runs jetsync the way it is deployed, for the benchmark
// (infra/bench) and the chaos suite (infra/chaos): it builds the bridge, the
// table function and a current nats-server into a temporary directory, runs
// them as child processes configured by environment, kills and restarts
// them, reads their peak memory and CPU time from /proc, and owns a TCP
// proxy that can cut a database's connections. Everything listens on
// loopback.
package harness
