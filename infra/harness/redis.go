package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a redis-server process on a fixed loopback port with its
// data in Dir, so that it can be killed and started again with what it had
// acknowledged (append-only file, fsync on every write) and nothing set by
// CONFIG SET since: keyspace notifications come back off.
type RedisServer struct {
	Proc
	Port int
	Dir  string
	base []string // Args without a replicaof
}

// NewRedisServer returns (does not start) a redis-server on a free loopback
// port with its data in dir; args add settings.
func NewRedisServer(dir, log string, args ...string) (*RedisServer, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server is not installed (go tool task up installs it): %w", err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	base := append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "",
		"--appendonly", "yes", "--appendfsync", "always",
	}, args...)
	return &RedisServer{Proc: Proc{Name: "redis-server", Path: path, Log: log, Args: base}, Port: port, Dir: dir, base: base}, nil
}

// StartReplicaOf starts the server as a replica of the master at addr (a
// killed master coming back after a failover), or as a master when addr is
// empty; a Sentinel may change that later.
func (s *RedisServer) StartReplicaOf(addr string) error {
	s.Args = slices.Clone(s.base)
	if addr != "" {
		host, port, _ := strings.Cut(addr, ":")
		s.Args = append(s.Args, "--replicaof", host, port)
	}
	return s.Start()
}

// WaitReplicaSynced waits until the replica at addr has its link to the
// master up (the initial sync done).
func WaitReplicaSynced(ctx context.Context, addr string, timeout time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(timeout)
	for {
		info, err := c.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replica %s not in sync after %s: %v", addr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Addr is the server's address.
func (s *RedisServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port) }

// Start starts the server and waits until it answers PING with its data
// loaded (at most 30 s).
func (s *RedisServer) Start() error {
	if err := s.Proc.Start(); err != nil {
		return err
	}
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer rdb.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := rdb.Ping(context.Background()).Err()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %d not ready after 30s: %w", s.Port, err)
		}
		select {
		case <-s.Exited():
			return fmt.Errorf("redis-server exited at start (see %s)", s.Log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Busy keeps the Redis at addr busy for d with a Lua script: every other
// client is answered BUSY meanwhile (when its busy-reply-threshold is below
// d), as a long script in production does.
func Busy(ctx context.Context, addr string, d time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: d + 10*time.Second})
	defer c.Close()
	const script = `local t0 = redis.call('TIME')
while true do
  local t = redis.call('TIME')
  if (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > tonumber(ARGV[1]) then return 1 end
end`
	return c.Eval(ctx, script, nil, d.Microseconds()).Err()
}

// Sentinel is a Redis Sentinel process (redis-sentinel, or redis-server
// --sentinel) on a free loopback port that monitors one master under Name
// with a quorum of 1 and promotes a replica once the master has not answered
// for DownAfter.
type Sentinel struct {
	Proc
	Port int
	Name string
}

// NewSentinel returns (does not start) a Sentinel with its configuration in
// dir, monitoring the master at masterAddr as name.
func NewSentinel(dir, log, name, masterAddr string, downAfter time.Duration) (*Sentinel, error) {
	path, err := exec.LookPath("redis-sentinel")
	args := []string{filepath.Join(dir, "sentinel.conf")}
	if err != nil {
		if path, err = exec.LookPath("redis-server"); err != nil {
			return nil, fmt.Errorf("neither redis-sentinel nor redis-server is installed (infra/local/up.sh installs them): %w", err)
		}
		args = append(args, "--sentinel")
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	host, mport, _ := strings.Cut(masterAddr, ":")
	conf := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s %s %s 1\n"+
		"sentinel down-after-milliseconds %s %d\nsentinel failover-timeout %s 5000\nsentinel parallel-syncs %s 1\n",
		port, dir, name, host, mport, name, downAfter.Milliseconds(), name, name)
	if err := os.WriteFile(args[0], []byte(conf), 0o600); err != nil {
		return nil, err
	}
	return &Sentinel{Proc: Proc{Name: "redis-sentinel", Path: path, Args: args, Log: log}, Port: port, Name: name}, nil
}

// Addr is the Sentinel's address.
func (s *Sentinel) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port) }

// Start starts the Sentinel and waits until it names the master (at most
// 10 s).
func (s *Sentinel) Start() error {
	if err := s.Proc.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.Master(context.Background())
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sentinel on %d does not name its master after 10s: %w", s.Port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Master is the address of the master the Sentinel names now.
func (s *Sentinel) Master(ctx context.Context) (string, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer sc.Close()
	hp, err := sc.GetMasterAddrByName(ctx, s.Name).Result()
	if err != nil {
		return "", err
	}
	return strings.Join(hp, ":"), nil
}
