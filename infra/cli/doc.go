// Package cli is the jetsync command-line tool: dead letters (list, show,
// requeue, purge) and version. It talks to NATS only; infra/cmd/jetsync is
// its main.
//
// Exit status: 0 done, 1 failed (NATS, a server error), 2 usage, 4 nothing
// matched (no such function, dead letter or sequence).
package cli
