// Package platform holds the plumbing that every deployed jetsync process
// shares: secrets given literally or as mounted files, the NATS connection,
// the JetStream streams, backoff and the slog logger.
//
// It reads no environment itself: each main parses its Config with envconfig
// and hands the parts here.
package platform
