package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/infra/harness"
)

// Name returns base with a random suffix: a prefix, table, stream or
// function name no other test uses.
func Name(base string) string { return harness.Name(base) }

// Logger returns a logger that writes to the test log (visible with -v or
// on failure).
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// QuietLogger is Logger at warning level, for benchmarks.
func QuietLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// NATS starts an embedded JetStream server on a free loopback port with its
// store in a temporary directory, and returns its URL.
func NATS(t testing.TB) string {
	t.Helper()
	s := NATSAt(t, -1, t.TempDir())
	return s.ClientURL()
}

// NATSAt starts an embedded JetStream server on port (-1: any free port)
// with its store in dir; stop and start it again on the same port and dir to
// restart it with its data.
func NATSAt(t testing.TB, port int, dir string) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  dir,
		NoSigs:    true,
		NoLog:     true,
	})
	if err != nil {
		t.Fatalf("embedded nats-server: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded nats-server did not start in 10s")
	}
	t.Cleanup(s.Shutdown)
	return s
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// RedisAddr is the Redis the tests use.
func RedisAddr() string { return env("JETSYNC_TEST_REDIS_ADDR", "127.0.0.1:6379") }

// Redis returns a client of the test Redis; it fails the test when Redis is
// not running.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: RedisAddr()})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis at %s: %v (start it with infra/local/up.sh)", RedisAddr(), err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// DeletePrefix removes every key of prefix when the test ends.
func DeletePrefix(t testing.TB, rdb *redis.Client, prefix string) {
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
}

// MySQLAddr is the MariaDB/MySQL the tests use (root, no password, database test).
func MySQLAddr() string { return env("JETSYNC_TEST_MYSQL_ADDR", "127.0.0.1:3306") }

// MySQL returns a connection pool to database test; it fails the test when
// the server is not running.
func MySQL(t testing.TB) *sql.DB {
	t.Helper()
	cfg := driver.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.DBName = "tcp", MySQLAddr(), "root", "test"
	cfg.MultiStatements = true
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err == nil {
		err = db.Ping()
	}
	if err != nil {
		t.Fatalf("mariadb at %s: %v (start it with infra/local/up.sh)", MySQLAddr(), err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Exec runs statements and fails the test on error.
func Exec(t testing.TB, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// Eventually calls check every 50ms until it returns nil, and fails the test
// with check's last error when timeout passes first.
func Eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Proxy forwards TCP connections from a loopback port to a target, and can
// cut every connection and refuse new ones (Cut, Restore), as a network
// outage would. It is the harness's proxy, which bench and chaos use too.
type Proxy = harness.Proxy

// NewProxy starts a proxy to target; it stops when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := harness.NewProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// MetricValue reads, from a Prometheus text exposition, the value on the
// line that starts with series (name and labels, then a space); -1 when
// there is none.
func MetricValue(body, series string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// HTTPGet returns the status and body of a GET of url (status 0 and the
// error's text when the request fails).
func HTTPGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// KillConnections ends every MariaDB connection of user, as a network
// failure or a server restart would.
func KillConnections(t testing.TB, db *sql.DB, user string) {
	t.Helper()
	rows, err := db.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?", user)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) == 0 {
		t.Fatalf("%s has no connection to end", user)
	}
	for _, id := range ids {
		db.Exec(fmt.Sprintf("KILL %d", id))
	}
}

// WithControl runs f twice, as parallel subtests: name with the mechanism
// under test (control false), and "control: "+off with it switched off
// (control true), which must fail the way the guarantee describes.
func WithControl(t *testing.T, name, off string, f func(t *testing.T, control bool)) {
	t.Helper()
	for _, control := range []bool{false, true} {
		label := name
		if control {
			label = "control: " + off
		}
		t.Run(label, func(t *testing.T) {
			t.Parallel()
			f(t, control)
		})
	}
}

// ExportedMetrics returns the names of the metrics the processes export,
// read from their sources under root (the repository root, relative to the
// test's package): the README's table, the alert rules and the dashboard
// are checked against them.
func ExportedMetrics(t testing.TB, root string) map[string]bool {
	t.Helper()
	name := regexp.MustCompile(`Name:\s*"(jetsync_[a-z_]+)"`)
	out := map[string]bool{}
	for _, file := range []string{"bridge/metrics.go", "handlers/metrics.go", "infra/platform/http.go"} {
		src, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range name.FindAllStringSubmatch(string(src), -1) {
			out[m[1]] = true
		}
	}
	if len(out) < 20 {
		t.Fatalf("found %d metric names in the sources; the pattern no longer matches how metrics are declared", len(out))
	}
	return out
}
