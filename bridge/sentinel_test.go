package bridge

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/infra/testenv"
)

// TestSentinelFailover: a bridge configured with JETSYNC_REDIS_SENTINEL
// follows a real failover — the master SIGKILLed, the replica (with
// notifications off, as its config file says) promoted by the sentinel —
// and carries the writes made on the new master.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	master := testenv.StartRedis(t, "--notify-keyspace-events", "KA")
	replica := testenv.StartRedis(t, "--replicaof", "127.0.0.1", master.Addr[len("127.0.0.1:"):], "--replica-announce-ip", "127.0.0.1")
	rrdb := redis.NewClient(&redis.Options{Addr: replica.Addr})
	defer rrdb.Close()
	testenv.Eventually(t, 10*time.Second, func() error {
		info := rrdb.Info(ctx, "replication").Val()
		if !strings.Contains(info, "master_link_status:up") {
			return fmt.Errorf("replica not in sync yet")
		}
		return nil
	})
	sentinel := testenv.StartSentinel(t, "jetsync", master.Addr)
	// The sentinel learns of the replica from the master.
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel})
	defer sc.Close()
	testenv.Eventually(t, 20*time.Second, func() error {
		if r, err := sc.Replicas(ctx, "jetsync").Result(); err != nil || len(r) == 0 {
			return fmt.Errorf("sentinel knows no replica yet (%v)", err)
		}
		return nil
	})

	cfg := testConfig("127.0.0.1:1", testenv.NATS(t), "p") // Addr is not used with sentinels
	cfg.Redis.Sentinel, cfg.Redis.MasterName = []string{sentinel}, "jetsync"
	rec := runBridge(t, cfg)
	fc := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "jetsync", SentinelAddrs: []string{sentinel}})
	defer fc.Close()
	carried := func(key, v string) func() error {
		return func() error {
			all := rec.changes(t, key)
			if len(all) == 0 || all[len(all)-1].Fields["n"] != v {
				return fmt.Errorf("%s=%s not carried", key, v)
			}
			return nil
		}
	}
	fc.HSet(ctx, "p:before", "n", "1")
	testenv.Eventually(t, 10*time.Second, carried("p:before", "1"))

	master.Kill()
	testenv.Eventually(t, 30*time.Second, func() error {
		addr, err := sc.GetMasterAddrByName(ctx, "jetsync").Result()
		if err != nil || len(addr) != 2 || addr[0]+":"+addr[1] != replica.Addr {
			return fmt.Errorf("sentinel's master is %v (%v), want the replica %s", addr, err, replica.Addr)
		}
		return nil
	})
	for i := range 20 {
		testenv.Eventually(t, 20*time.Second, func() error {
			return fc.HSet(ctx, "p:after"+strconv.Itoa(i), "n", "2").Err()
		})
	}
	for i := range 20 {
		testenv.Eventually(t, 20*time.Second, carried("p:after"+strconv.Itoa(i), "2"))
	}
}
