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
// and carries the writes made on the new master once it has resubscribed
// there. The control does not assert the notification setting again (no
// notify watch) and must go deaf: the new master's writes never arrive,
// and /readyz stays 200.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "notifications re-asserted", "no notify watch", func(t *testing.T, control bool) {
		ctx := context.Background()
		master := testenv.StartRedis(t, "--notify-keyspace-events", "KA")
		replica := testenv.StartRedis(t, "--replicaof", "127.0.0.1", master.Addr[len("127.0.0.1:"):], "--replica-announce-ip", "127.0.0.1",
			"--notify-keyspace-events", "")
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
		cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		cfg.hooks.noNotifyWatch = control
		rec := runBridge(t, cfg)
		// The bridge set the master's notifications only: the replica's
		// stay off, so only the bridge can turn them on after the failover.
		if flags := rrdb.ConfigGet(ctx, "notify-keyspace-events").Val()["notify-keyspace-events"]; flags != "" {
			t.Fatalf("the replica has notify-keyspace-events %q before the failover, want none", flags)
		}
		fc := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "jetsync", SentinelAddrs: []string{sentinel}})
		defer fc.Close()
		carried := func(key, v string) func() error { return rec.carried(t, key, v) }
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
		// The bridge has resubscribed on the new master and resynced: what
		// is written from now on is carried by notifications only.
		testenv.Eventually(t, 30*time.Second, func() error {
			_, body := testenv.HTTPGet("http://" + cfg.HTTPAddr + "/metrics")
			if n := testenv.MetricValue(body, "jetsync_bridge_resyncs_total"); n < 2 {
				return fmt.Errorf("%v resyncs, want the one after resubscribing on the new master", n)
			}
			return nil
		})
		for i := range 20 {
			testenv.Eventually(t, 20*time.Second, func() error {
				return fc.HSet(ctx, "p:after"+strconv.Itoa(i), "n", "2").Err()
			})
		}
		if control {
			time.Sleep(5 * time.Second) // they would be carried by now
			lost := 0
			for i := range 20 {
				if carried("p:after"+strconv.Itoa(i), "2")() != nil {
					lost++
				}
			}
			code, body := testenv.HTTPGet("http://" + cfg.HTTPAddr + "/readyz")
			if lost == 0 || code != 200 {
				t.Fatalf("control: %d of 20 writes on the new master lost, /readyz %d %s; want writes lost behind a 200, or the test cannot tell the re-assert is what carries them",
					lost, code, strings.TrimSpace(body))
			}
			t.Logf("control: %d of 20 writes on the new master never carried, /readyz %d", lost, code)
			return
		}
		for i := range 20 {
			testenv.Eventually(t, 20*time.Second, carried("p:after"+strconv.Itoa(i), "2"))
		}
	})
}
