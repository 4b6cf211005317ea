package bridge

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/infra/testenv"
)

// TestCluster runs the bridge against a real 3-master cluster (with a
// replica each) of its own: writes spread over all slots all arrive, and a
// master shut down in the middle of writes (its replica takes over) loses no
// upsert that Redis kept, nor any write made on the new master. The control
// subscribes to the first masters and never looks at the topology again, and
// must see the new master's writes never arrive.
func TestCluster(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "topology followed", "no topology watch", func(t *testing.T, control bool) {
		ctx := context.Background()
		addrs := testenv.RedisCluster(t, 3, 1)
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, MaxRedirects: 16, DialTimeout: 300 * time.Millisecond, ReadTimeout: time.Second})
		defer cc.Close()
		cfg := testConfig(strings.Join(addrs[:3], ","), testenv.NATS(t), "p")
		cfg.Redis.Cluster = true
		cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		cfg.hooks.noTopologyWatch = control
		rec := runBridge(t, cfg)
		ready := func() error {
			if code, body := testenv.HTTPGet("http://" + cfg.HTTPAddr + "/readyz"); code != 200 {
				return fmt.Errorf("%d %s", code, body)
			}
			return nil
		}
		testenv.Eventually(t, 10*time.Second, ready)

		var mu sync.Mutex
		last := map[string]string{}
		write := func(key, v string) {
			for ctx.Err() == nil {
				if err := cc.HSet(ctx, key, "v", v).Err(); err == nil {
					mu.Lock()
					last[key] = v
					mu.Unlock()
					return
				}
				// The slot's master is failing over: learn the new topology.
				time.Sleep(20 * time.Millisecond)
				cc.ReloadState(ctx)
			}
		}
		for i := range 3000 {
			write(fmt.Sprintf("p:%d", i), "a"+strconv.Itoa(i))
		}
		// stale lists the written keys whose value in Redis is not their
		// last change in the stream.
		stale := func() ([]string, error) {
			mu.Lock()
			defer mu.Unlock()
			published := rec.last(t)
			pipe := cc.Pipeline()
			cmds := map[string]*redis.StringCmd{}
			for key := range last {
				cmds[key] = pipe.HGet(ctx, key, "v")
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return nil, err
			}
			var out []string
			for key, cmd := range cmds {
				if c, ok := published[key]; !ok || c.Op != change.Upsert || c.Fields["v"] != cmd.Val() {
					out = append(out, fmt.Sprintf("%s: Redis has %q, the stream's last change is %+v", key, cmd.Val(), c))
				}
			}
			return out, nil
		}
		check := func() {
			t.Helper()
			testenv.Eventually(t, 30*time.Second, func() error {
				s, err := stale()
				if err != nil {
					return err
				}
				if len(s) > 0 {
					return fmt.Errorf("%d keys stale, e.g. %s", len(s), s[0])
				}
				return nil
			})
		}
		check()

		// Shut a master down while writes go on.
		var victim string
		for _, a := range addrs[:3] {
			role, _ := redis.NewClient(&redis.Options{Addr: a}).Do(ctx, "ROLE").Slice()
			if len(role) > 0 && role[0] == "master" {
				victim = a
				break
			}
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range 3000 {
				write(fmt.Sprintf("p:%d", i), "b"+strconv.Itoa(i))
			}
		}()
		time.Sleep(200 * time.Millisecond)
		_ = redis.NewClient(&redis.Options{Addr: victim}).Shutdown(ctx).Err() // the connection ends with it
		<-done
		// And writes after the failover, on every master, the new one too.
		for i := range 300 {
			write(fmt.Sprintf("p:%d", i), "c"+strconv.Itoa(i))
		}
		if control {
			time.Sleep(5 * time.Second) // the new master's changes would be stored by now
			s, err := stale()
			if err != nil {
				t.Fatal(err)
			}
			if len(s) == 0 {
				t.Fatal("control: every write carried without the topology watch; the test cannot tell the watch is what carries the new master")
			}
			t.Logf("control: %d keys stale, e.g. %s", len(s), s[0])
			return
		}
		check()
		testenv.Eventually(t, 30*time.Second, ready)
	})
}

// TestClusterCountsEveryMaster: a replica promoted in a cluster comes with
// its own notify-keyspace-events (here: off, and the bridge may not set
// it). That master is counted and reported: /readyz says which one is not
// carried until someone enables it; then its keys are carried. The control
// counts only the masters it subscribed to and must say ready while the
// promoted master's keys are not carried.
func TestClusterCountsEveryMaster(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "reported", "carried masters only", func(t *testing.T, control bool) {
		ctx := context.Background()
		addrs := testenv.RedisCluster(t, 3, 1)
		client := func(a string) *redis.Client {
			c := redis.NewClient(&redis.Options{Addr: a})
			t.Cleanup(func() { c.Close() })
			return c
		}
		var replica string
		for _, a := range addrs {
			role, _ := client(a).Do(ctx, "ROLE").Slice()
			if len(role) > 0 && role[0] == "master" {
				client(a).ConfigSet(ctx, "notify-keyspace-events", "KA")
			} else if replica == "" {
				replica = a
			}
		}
		cfg := testConfig(strings.Join(addrs[:3], ","), testenv.NATS(t), "p")
		cfg.Redis.Cluster, cfg.Redis.ConfigureNotifications = true, false
		cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		cfg.hooks.carriedMastersOnly = control
		rec := runBridge(t, cfg)
		readyz := func() (int, string) { return testenv.HTTPGet("http://" + cfg.HTTPAddr + "/readyz") }
		testenv.Eventually(t, 10*time.Second, func() error {
			if code, body := readyz(); code != 200 {
				return fmt.Errorf("%d %s", code, body)
			}
			return nil
		})

		// CLUSTER FAILOVER only starts it; on a loaded machine it can time out
		// and must be asked again.
		asked := time.Time{}
		testenv.Eventually(t, 60*time.Second, func() error {
			if role, _ := client(replica).Do(ctx, "ROLE").Slice(); len(role) > 0 && role[0] == "master" {
				return nil
			}
			if time.Since(asked) > 5*time.Second {
				if err := client(replica).Do(ctx, "CLUSTER", "FAILOVER").Err(); err != nil {
					return err
				}
				asked = time.Now()
			}
			return fmt.Errorf("%s is not promoted yet", replica)
		})
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
		defer cc.Close()
		if control {
			// The bridge has seen the new topology, and keeps saying ready.
			testenv.Eventually(t, 30*time.Second, func() error {
				_, body := testenv.HTTPGet("http://" + cfg.HTTPAddr + "/metrics")
				if g := testenv.MetricValue(body, `jetsync_bridge_gaps_total{why="cluster topology changed"}`); g < 1 {
					return fmt.Errorf("control: the bridge has not seen the promotion of %s yet", replica)
				}
				return nil
			})
			var onReplica []string
			for i := range 200 {
				key := fmt.Sprintf("p:%d", i)
				cc.HSet(ctx, key, "v", "1")
				if client(replica).Exists(ctx, key).Val() == 1 {
					onReplica = append(onReplica, key)
				}
			}
			testenv.Eventually(t, 20*time.Second, func() error {
				if n := len(rec.last(t)); n < 200-len(onReplica) {
					return fmt.Errorf("control: %d of the %d keys of the other masters carried", n, 200-len(onReplica))
				}
				return nil
			})
			time.Sleep(2 * time.Second) // the promoted master's keys would be carried by now
			carried := rec.last(t)
			missing := 0
			for _, key := range onReplica {
				if _, ok := carried[key]; !ok {
					missing++
				}
			}
			code, body := readyz()
			if missing == 0 || code != 200 {
				t.Fatalf("control: /readyz %d %s with %d of %d keys of %s not carried; want 200 while keys are lost, or the test cannot tell counting every master is what reports it",
					code, strings.TrimSpace(body), missing, len(onReplica), replica)
			}
			t.Logf("control: /readyz %d while %d of %d keys of the promoted master %s are not carried", code, missing, len(onReplica), replica)
			return
		}
		testenv.Eventually(t, 30*time.Second, func() error {
			if code, body := readyz(); code == 200 || !strings.Contains(body, replica) {
				return fmt.Errorf("/readyz %d %s; want not ready, naming %s", code, body, replica)
			}
			return nil
		})
		client(replica).ConfigSet(ctx, "notify-keyspace-events", "KA") // the operator fixes it
		testenv.Eventually(t, 20*time.Second, func() error {
			if code, body := readyz(); code != 200 {
				return fmt.Errorf("%d %s", code, body)
			}
			return nil
		})
		for i := range 200 { // keys on every master, the promoted one included
			cc.HSet(ctx, fmt.Sprintf("p:%d", i), "v", "1")
		}
		testenv.Eventually(t, 20*time.Second, func() error {
			if n := len(rec.last(t)); n < 200 {
				return fmt.Errorf("%d of 200 keys carried", n)
			}
			return nil
		})
	})
}
