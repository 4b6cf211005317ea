package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/infra/harness"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// RedisServer starts a redis-server of its own on a free loopback port, with
// extra config arguments (e.g. "--notify-keyspace-events", ""), for tests
// that need special settings. It is killed when the test ends. It returns
// the server's address.
func RedisServer(t testing.TB, args ...string) string {
	t.Helper()
	return StartRedis(t, args...).Addr
}

// RedisProc is a redis-server of a test's own that the test can restart, as
// a crash or an upgrade would: the same port, nothing persisted, and only the
// settings given at (re)start.
type RedisProc struct {
	Addr string
	t    testing.TB
	port int
	dir  string
	cmd  *exec.Cmd
}

// StartRedis starts a redis-server of its own on a free loopback port with
// extra config arguments; it is killed when the test ends.
func StartRedis(t testing.TB, args ...string) *RedisProc {
	t.Helper()
	port := FreePort(t)
	r := &RedisProc{Addr: fmt.Sprintf("127.0.0.1:%d", port), t: t, port: port, dir: t.TempDir()}
	r.start(args...)
	t.Cleanup(r.kill)
	return r
}

// Restart SIGKILLs the server and starts a new one on the same port with
// args instead of the first start's: a setting made with CONFIG SET is gone,
// as after a real restart.
func (r *RedisProc) Restart(args ...string) {
	r.t.Helper()
	r.kill()
	r.start(args...)
}

func (r *RedisProc) start(args ...string) {
	r.t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		r.t.Fatalf("redis-server is not installed (infra/local/up.sh installs it): %v", err)
	}
	all := append([]string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.dir}, args...)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.cmd = exec.Command(path, all...)
		// Dies with the test binary even when a timeout panic skips the cleanup.
		r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := r.cmd.Start(); err != nil {
			r.t.Fatal(err)
		}
		rdb := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1})
		ok, attempt := false, time.Now().Add(2*time.Second)
		for !ok && time.Now().Before(attempt) {
			ok = rdb.Ping(context.Background()).Err() == nil
			if !ok {
				time.Sleep(20 * time.Millisecond)
			}
		}
		rdb.Close()
		if ok {
			return
		}
		r.kill() // the port may not have been released yet: try again
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on port %d did not start in 10s", r.port)
		}
	}
}

// Kill SIGKILLs the server, as a crashed machine.
func (r *RedisProc) Kill() { r.kill() }

func (r *RedisProc) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
}

// RedisCluster starts a Redis Cluster of its own: masters × (1 + replicas)
// redis-server processes on free loopback ports, slots spread by
// redis-cli --cluster create. It returns the node addresses, masters first,
// and waits for cluster_state:ok. Processes are killed when the test ends.
func RedisCluster(t testing.TB, masters, replicas int) []string {
	t.Helper()
	var addrs []string
	for range masters * (1 + replicas) {
		addrs = append(addrs, RedisServer(t, "--cluster-enabled", "yes", "--cluster-node-timeout", "1000",
			"--cluster-config-file", fmt.Sprintf("nodes-%d.conf", FreePort(t)), "--appendonly", "no"))
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, a := range addrs {
		rdb := redis.NewClient(&redis.Options{Addr: a})
		Eventually(t, 20*time.Second, func() error {
			info, err := rdb.ClusterInfo(context.Background()).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("%s: cluster not ok yet", a)
			}
			return nil
		})
		rdb.Close()
	}
	return addrs
}

// StartSentinel starts a Redis Sentinel of its own (harness.Sentinel) that
// monitors the master at masterAddr under name, declares it down after 1 s
// and promotes a replica. It returns the sentinel's address.
func StartSentinel(t testing.TB, name, masterAddr string) string {
	t.Helper()
	s, err := harness.NewSentinel(t.TempDir(), "", name, masterAddr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Kill() })
	return s.Addr()
}
