// Package streams owns the JetStream streams jetsync keeps and their names:
// the change stream (subjects jetsync.>), the dead-letter stream
// (jetsync-dlq.<function>.…) and the write-through reply stream
// (jetsync-reply.<token>); how they are configured and created. The bridge,
// the function runtime, the jetsync tool, bench and chaos use it, so that
// infra/platform keeps only process plumbing.
package streams
