package table

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/jetsync/jetsync/infra/testenv"
)

// TestNoSecretInAnyMessage runs the bridge, the table function (run and
// check) and the jetsync tool as processes, feeding every configuration
// path that can carry a password one: URLs and addresses with user info
// (NATS, Redis, Sentinel, MySQL, PostgreSQL, SQL Server, Cassandra, the
// Redis target), wrong passwords and tokens given literally and as files
// against real servers, and malformed combinations. Every line of every
// output (logs, errors, check reports) must be free of the password, and
// each case must show it reached its path (the message it expects).
// Control: binaries built with -tags testhooks and JETSYNC_TEST_NO_REDACT
// (Redact off) print the password.
func TestNoSecretInAnyMessage(t *testing.T) {
	t.Parallel()
	const pw = "Hunter2-do-not-print"
	w := newWorld(t)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	authNATS, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
		Users: []*server.User{{Username: "jet", Password: "the-right-one"}}})
	if err != nil {
		t.Fatal(err)
	}
	authNATS.Start()
	t.Cleanup(authNATS.Shutdown)
	if !authNATS.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server with users did not start")
	}
	closed := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	prefix := w.Prefix("person")
	bridgeEnv := []string{
		"JETSYNC_PREFIXES=" + prefix, "JETSYNC_REDIS_ADDR=" + testenv.RedisAddr(),
		"JETSYNC_NATS_URL=" + w.NATSURL, "JETSYNC_STREAM=" + w.Stream, "JETSYNC_LOG_FORMAT=json",
		"JETSYNC_HA_LEASE=false", "PATH=" + os.Getenv("PATH"),
	}
	tableEnv := envOf(w.tableConfig(testenv.Name("persons"), prefix, w.personsTable(), "person_id", "age:age", testenv.MySQLAddr()))
	type proc struct{ bin, env, cmd string }
	cases := []struct {
		name  string
		proc  string // bridge, table, cli
		args  []string
		env   []string
		wants string
	}{
		{"nats url with user info", "bridge", nil, []string{"JETSYNC_NATS_URL=nats://jet:" + pw + "@" + closed}, "connect to NATS at nats://[redacted]@"},
		{"nats url with user info, check", "bridge", []string{"check"}, []string{"JETSYNC_NATS_URL=nats://jet:" + pw + "@" + closed}, "FAIL"},
		{"nats url with a token", "bridge", nil, []string{"JETSYNC_NATS_URL=nats://" + pw + "@" + closed}, "connect to NATS"},
		{"nats url without scheme", "bridge", nil, []string{"JETSYNC_NATS_URL=jet:" + pw + "@" + closed}, "JETSYNC_NATS_URL"},
		{"nats wrong password", "bridge", nil, []string{"JETSYNC_NATS_URL=" + authNATS.ClientURL(), "JETSYNC_NATS_USER=jet", "JETSYNC_NATS_PASSWORD=" + pw}, "uthorization"},
		{"nats wrong password file", "table", nil, []string{"JETSYNC_NATS_URL=" + authNATS.ClientURL(), "JETSYNC_NATS_USER=jet", "JETSYNC_NATS_PASSWORD_FILE=" + pwFile}, "uthorization"},
		{"nats wrong token", "cli", []string{"status"}, []string{"JETSYNC_NATS_URL=" + authNATS.ClientURL(), "JETSYNC_NATS_TOKEN=" + pw}, "uthorization"},
		{"nats url with user info, tool", "cli", []string{"status"}, []string{"JETSYNC_NATS_URL=nats://jet:" + pw + "@" + closed}, "nats://[redacted]@"},
		{"redis addr with user info", "bridge", nil, []string{"JETSYNC_REDIS_ADDR=jet:" + pw + "@" + testenv.RedisAddr()}, "JETSYNC_REDIS_ADDR holds credentials"},
		{"redis url", "bridge", []string{"check"}, []string{"JETSYNC_REDIS_ADDR=redis://jet:" + pw + "@" + testenv.RedisAddr()}, "JETSYNC_REDIS_ADDR holds credentials"},
		{"sentinel with user info", "bridge", nil, []string{"JETSYNC_REDIS_SENTINEL=jet:" + pw + "@" + closed, "JETSYNC_REDIS_MASTER_NAME=m"}, "JETSYNC_REDIS_SENTINEL holds credentials"},
		{"redis wrong password", "bridge", nil, []string{"JETSYNC_REDIS_USERNAME=nobody", "JETSYNC_REDIS_PASSWORD=" + pw}, "WRONGPASS"},
		{"redis wrong password file, check", "bridge", []string{"check"}, []string{"JETSYNC_REDIS_USERNAME=nobody", "JETSYNC_REDIS_PASSWORD_FILE=" + pwFile}, "WRONGPASS"},
		{"redis password twice", "bridge", nil, []string{"JETSYNC_REDIS_PASSWORD=" + pw, "JETSYNC_REDIS_PASSWORD_FILE=" + pwFile}, "both set"},
		{"metrics password without user", "bridge", nil, []string{"JETSYNC_HTTP_PASSWORD=" + pw}, "JETSYNC_HTTP_USER is not"},
		{"mysql dsn as address", "table", nil, []string{"JETSYNC_MYSQL_ADDR=jet:" + pw + "@tcp(" + testenv.MySQLAddr() + ")"}, "JETSYNC_MYSQL_ADDR holds credentials"},
		{"mysql wrong password", "table", nil, []string{"JETSYNC_MYSQL_USER=root", "JETSYNC_MYSQL_PASSWORD=" + pw}, "Access denied"},
		{"mysql wrong password file, check", "table", []string{"check"}, []string{"JETSYNC_MYSQL_USER=root", "JETSYNC_MYSQL_PASSWORD_FILE=" + pwFile}, "Access denied"},
		{"postgres url as address", "table", nil, []string{"JETSYNC_CONNECTOR=postgres", "JETSYNC_POSTGRES_ADDR=postgres://jet:" + pw + "@" + testenv.PostgresAddr()}, "JETSYNC_POSTGRES_ADDR holds credentials"},
		{"postgres unknown user", "table", nil, []string{"JETSYNC_CONNECTOR=postgres", "JETSYNC_POSTGRES_ADDR=" + testenv.PostgresAddr(), "JETSYNC_POSTGRES_USER=nobody_jetsync", "JETSYNC_POSTGRES_PASSWORD=" + pw}, "nobody_jetsync"},
		{"sql server url as address", "table", nil, []string{"JETSYNC_CONNECTOR=mssql", "JETSYNC_MSSQL_ADDR=sqlserver://sa:" + pw + "@" + closed}, "JETSYNC_MSSQL_ADDR holds credentials"},
		{"sql server unreachable", "table", nil, []string{"JETSYNC_CONNECTOR=mssql", "JETSYNC_MSSQL_ADDR=" + closed, "JETSYNC_MSSQL_PASSWORD=" + pw}, closed},
		{"cassandra hosts with user info", "table", nil, []string{"JETSYNC_CONNECTOR=cassandra", "JETSYNC_CASSANDRA_HOSTS=jet:" + pw + "@" + closed}, "JETSYNC_CASSANDRA_HOSTS holds credentials"},
		{"redis target addr with user info", "table", nil, []string{"JETSYNC_CONNECTOR=redis", "JETSYNC_TARGET_REDIS_ADDR=jet:" + pw + "@" + testenv.RedisAddr()}, "JETSYNC_TARGET_REDIS_ADDR holds credentials"},
		{"redis target wrong password", "table", nil, []string{"JETSYNC_CONNECTOR=redis", "JETSYNC_TARGET_REDIS_ADDR=" + testenv.RedisAddr(), "JETSYNC_TARGET_REDIS_USERNAME=nobody", "JETSYNC_TARGET_REDIS_PASSWORD=" + pw}, "WRONGPASS"},
		{"mongodb uri with a password, unreachable", "table", nil, []string{"JETSYNC_CONNECTOR=mongodb", "JETSYNC_MONGODB_URI=mongodb://jet:" + pw + "@" + closed + "/?serverSelectionTimeoutMS=500", "JETSYNC_MONGODB_TIMEOUT=1s"}, "MongoDB"},
		{"mongodb uri with a password, malformed", "table", nil, []string{"JETSYNC_CONNECTOR=mongodb", "JETSYNC_MONGODB_URI=mongodb://jet:" + pw + "@" + closed + "/?w=nonsense&journal=maybe"}, "JETSYNC_MONGODB_URI is not a MongoDB connection string"},
		{"table nats url with user info, check", "table", []string{"check"}, []string{"JETSYNC_NATS_URL=nats://jet:" + pw + "@" + closed}, "FAIL NATS at nats://[redacted]@"},
		{"table nats url with user info", "table", nil, []string{"JETSYNC_NATS_URL=nats://jet:" + pw + "@" + closed}, "nats://[redacted]@"},
	}
	testenv.WithControl(t, "redacted", "Redact off", func(t *testing.T, control bool) {
		var tags []string
		if control {
			tags = []string{"testhooks"}
		}
		procs := map[string]proc{
			"bridge": {testenv.Build(t, "../../bridge/cmd/jetsync-bridge", tags...), "", ""},
			"table":  {testenv.Build(t, "./cmd/jetsync-table", tags...), "", ""},
			"cli":    {testenv.Build(t, "../../infra/cmd/jetsync", tags...), "", ""},
		}
		base := map[string][]string{"bridge": bridgeEnv, "table": tableEnv, "cli": {"JETSYNC_STREAM=" + w.Stream, "PATH=" + os.Getenv("PATH")}}
		var mu sync.Mutex
		leaked := 0
		t.Run("cases", func(t *testing.T) {
			for _, tt := range cases {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					cmd := exec.CommandContext(ctx, procs[tt.proc].bin, tt.args...)
					cmd.Env = append(append([]string{}, base[tt.proc]...), tt.env...)
					if control {
						cmd.Env = append(cmd.Env, "JETSYNC_TEST_NO_REDACT=1")
					}
					var out strings.Builder
					cmd.Stdout, cmd.Stderr = &out, &out
					if err := cmd.Start(); err != nil {
						t.Fatal(err)
					}
					done := make(chan struct{})
					go func() { _ = cmd.Wait(); close(done) }()
					select {
					case <-done: // stopped on the error
					case <-time.After(4 * time.Second): // retrying: its log so far
						_ = cmd.Process.Signal(syscall.SIGTERM)
						<-done
					}
					if strings.Contains(out.String(), pw) {
						mu.Lock()
						leaked++
						mu.Unlock()
						if !control {
							t.Errorf("the password is in the output:\n%s", out.String())
						}
					}
					if !control && !strings.Contains(out.String(), tt.wants) {
						t.Errorf("the output does not say %q (the case did not reach its path):\n%s", tt.wants, out.String())
					}
				})
			}
		})
		if control && leaked == 0 {
			t.Fatal("control: with Redact off no output showed the password")
		}
		if control {
			t.Logf("control: %d of %d outputs showed the password", leaked, len(cases))
		}
	})
}
