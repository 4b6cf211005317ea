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
// upsert that Redis kept.
func TestCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addrs := testenv.RedisCluster(t, 3, 1)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, MaxRedirects: 16, DialTimeout: 300 * time.Millisecond, ReadTimeout: time.Second})
	defer cc.Close()
	cfg := testConfig(strings.Join(addrs[:3], ","), testenv.NATS(t), "p")
	cfg.Redis.Cluster = true
	cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
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
	// check compares every written key's value in Redis with its last
	// change in the stream.
	check := func() {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		testenv.Eventually(t, 30*time.Second, func() error {
			published := rec.last(t)
			pipe := cc.Pipeline()
			cmds := map[string]*redis.StringCmd{}
			for key := range last {
				cmds[key] = pipe.HGet(ctx, key, "v")
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
			for key, cmd := range cmds {
				if c, ok := published[key]; !ok || c.Op != change.Upsert || c.Fields["v"] != cmd.Val() {
					return fmt.Errorf("%s: Redis has %q, the stream's last change is %+v", key, cmd.Val(), c)
				}
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
	testenv.Eventually(t, 30*time.Second, ready)
	check()
}

// TestClusterCountsEveryMaster: a replica promoted in a cluster comes with
// its own notify-keyspace-events (here: off, and the bridge may not set
// it). That master is counted and reported: /readyz says which one is not
// carried until someone enables it; then its keys are carried.
func TestClusterCountsEveryMaster(t *testing.T) {
	t.Parallel()
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
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer cc.Close()
	for i := range 200 { // keys on every master, the promoted one included
		cc.HSet(ctx, fmt.Sprintf("p:%d", i), "v", "1")
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		if n := len(rec.last(t)); n < 200 {
			return fmt.Errorf("%d of 200 keys carried", n)
		}
		return nil
	})
}
