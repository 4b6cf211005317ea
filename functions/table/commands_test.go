package table

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jetsync/jetsync/infra/testenv"
)

// run runs bin with args and the environment env, returning its output
// and exit status.
func runBin(t *testing.T, bin string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestCommands: --help lists every variable with its default (and the
// table function's verify) and exits 0, --version prints the build, a
// subcommand another binary has is unknown, and check reports what the configuration
// reaches, exiting 1 on a problem: the bridge against the real Redis and an
// embedded NATS, the table function against MariaDB (a good table, then a
// missing one).
func TestCommands(t *testing.T) {
	t.Parallel()
	bridgeBin := testenv.Build(t, "../../bridge/cmd/jetsync-bridge")
	tableBin := testenv.Build(t, "./cmd/jetsync-table")
	w := newWorld(t)
	prefix := w.Prefix("person")
	table := w.personsTable()

	for _, bin := range []string{bridgeBin, tableBin} {
		out, code := runBin(t, bin, nil, "--help")
		if code != 0 || !strings.Contains(out, "JETSYNC_NATS_URL") || !strings.Contains(out, "nats://127.0.0.1:4222") || !strings.Contains(out, "check") {
			t.Fatalf("%s --help: exit %d\n%s", bin, code, out)
		}
		if out, code := runBin(t, bin, nil, "--version"); code != 0 || !strings.Contains(out, "go1.") {
			t.Fatalf("%s --version: exit %d\n%s", bin, code, out)
		}
		if out, code := runBin(t, bin, nil, "--frobnicate"); code != 2 || !strings.Contains(out, "unknown arguments") {
			t.Fatalf("%s --frobnicate: exit %d\n%s", bin, code, out)
		}
	}
	if out, _ := runBin(t, bridgeBin, nil, "--help"); !strings.Contains(out, "JETSYNC_PREFIXES") || !strings.Contains(out, "(required)") {
		t.Fatalf("bridge --help lacks JETSYNC_PREFIXES (required):\n%s", out)
	}
	if out, _ := runBin(t, tableBin, nil, "--help"); !strings.Contains(out, "jetsync-table verify "+VerifyUsage) || !strings.Contains(out, "JETSYNC_REDIS_ADDR") || !strings.Contains(out, "JETSYNC_VALUE_TYPE") {
		t.Fatalf("jetsync-table --help lacks verify and the Redis it reads:\n%s", out)
	}
	if out, code := runBin(t, bridgeBin, nil, "verify"); code != 2 || !strings.Contains(out, "unknown arguments") {
		t.Fatalf("jetsync-bridge verify: exit %d\n%s", code, out)
	}

	bridgeEnv := []string{"JETSYNC_PREFIXES=" + prefix, "JETSYNC_REDIS_ADDR=" + testenv.RedisAddr(), "JETSYNC_NATS_URL=" + w.NATSURL, "JETSYNC_STREAM=" + w.Stream}
	out, code := runBin(t, bridgeBin, bridgeEnv, "check")
	if code != 0 || !strings.Contains(out, "ok   Redis at") || !strings.Contains(out, "notify-keyspace-events") || !strings.Contains(out, "ok   NATS at") {
		t.Fatalf("bridge check: exit %d\n%s", code, out)
	}
	t.Logf("jetsync-bridge check:\n%s", out)
	broken := append(append([]string{}, bridgeEnv...), "JETSYNC_REDIS_ADDR=127.0.0.1:1")
	if out, code := runBin(t, bridgeBin, broken, "check"); code != 1 || !strings.Contains(out, "FAIL Redis at 127.0.0.1:1") {
		t.Fatalf("bridge check against no Redis: exit %d\n%s", code, out)
	}

	tableEnv := []string{"JETSYNC_FUNCTION_NAME=" + testenv.Name("persons"), "JETSYNC_PREFIX=" + prefix, "JETSYNC_STREAM=" + w.Stream,
		"JETSYNC_NATS_URL=" + w.NATSURL, "JETSYNC_TABLE=" + table, "JETSYNC_KEY_COLUMN=person_id",
		"JETSYNC_MAPPINGS=first_name:first,last_name:last,age:age", "JETSYNC_MYSQL_ADDR=" + testenv.MySQLAddr()}
	out, code = runBin(t, tableBin, tableEnv, "check")
	if code != 0 || !strings.Contains(out, "ok   database: table "+table) || !strings.Contains(out, "ok   NATS at") {
		t.Fatalf("table check: exit %d\n%s", code, out)
	}
	t.Logf("jetsync-table check:\n%s", out)
	broken = append(append([]string{}, tableEnv...), "JETSYNC_TABLE=no_such_table_"+testenv.Name("x"))
	if out, code := runBin(t, tableBin, broken, "check"); code != 1 || !strings.Contains(out, "FAIL database") || !strings.Contains(out, "does not exist") {
		t.Fatalf("table check of a missing table: exit %d\n%s", code, out)
	}
}
