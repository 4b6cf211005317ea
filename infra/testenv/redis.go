package testenv

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// RedisServer starts a redis-server of its own on a free loopback port, with
// extra config arguments (e.g. "--notify-keyspace-events", ""), for tests
// that need special settings. It is killed when the test ends. It returns
// the server's address.
func RedisServer(t testing.TB, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (infra/local/up.sh installs it): %v", err)
	}
	port := FreePort(t)
	all := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir()}, args...)
	cmd := exec.Command(path, all...)
	// Dies with the test binary even when a timeout panic skips the cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	Eventually(t, 10*time.Second, func() error { return rdb.Ping(context.Background()).Err() })
	return addr
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
