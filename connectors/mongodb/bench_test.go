package mongodb_test

import (
	"testing"

	"github.com/jetsync/jetsync/connectors/conformance"
	"github.com/jetsync/jetsync/infra/testenv"
)

// BenchmarkWrite is the connector's write throughput in batches of 500
// (persons-like rows with per-document sequence guards, over 20,000 keys)
// into a FerretDB of its own on PostgreSQL, or into the MongoDB at
// JETSYNC_TEST_MONGODB_URI when it is set:
//
//	go test -run '^$' -bench Write -benchtime 20x ./connectors/mongodb/
func BenchmarkWrite(b *testing.B) {
	cfg := config(testenv.FerretDB(b))
	if uri := mongoURI(); uri != "" {
		cfg = config(uri)
		cfg.BulkSize = 1000
	}
	conformance.BenchWrite(b, open(b, cfg), testenv.Name("bench"))
}
