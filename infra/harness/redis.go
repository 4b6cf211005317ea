package harness

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
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
	return &RedisServer{
		Proc: Proc{Name: "redis-server", Path: path, Log: log, Args: append([]string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "",
			"--appendonly", "yes", "--appendfsync", "always",
		}, args...)},
		Port: port, Dir: dir,
	}, nil
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
