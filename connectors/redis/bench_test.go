package redis_test

import (
	"testing"

	"github.com/jetsync/jetsync/connectors/conformance"
	"github.com/jetsync/jetsync/infra/testenv"
)

// BenchmarkWrite is the connector's write throughput in batches of 500
// (persons-like rows with sequence guards, over 20,000 keys) into a
// redis-server of its own:
//
//	go test -run '^$' -bench Write -benchtime 200x ./connectors/redis/
func BenchmarkWrite(b *testing.B) {
	s := open(b, config(testenv.RedisServer(b)))
	conformance.BenchWrite(b, s, testenv.Name("bench"))
}
