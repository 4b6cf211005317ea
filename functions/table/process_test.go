package table

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetsync/jetsync/infra/testenv"
)

// envOf turns a config into the JETSYNC_* environment the binary reads.
func envOf(cfg Config) []string {
	return []string{
		"JETSYNC_FUNCTION_NAME=" + cfg.Name,
		"JETSYNC_FUNCTION_VERSION=" + cfg.Version,
		"JETSYNC_PREFIX=" + cfg.Prefix,
		"JETSYNC_STREAM=" + cfg.Stream,
		"JETSYNC_NATS_URL=" + cfg.NATS.URL,
		"JETSYNC_TABLE=" + cfg.Table,
		"JETSYNC_KEY_COLUMN=" + cfg.KeyColumn,
		"JETSYNC_MAPPINGS=" + cfg.Mappings,
		"JETSYNC_MODE=" + cfg.Mode,
		"JETSYNC_MYSQL_ADDR=" + cfg.MySQL.Addr,
		"JETSYNC_BATCH_SIZE=50",
		"JETSYNC_ACK_WAIT=3s",
		"JETSYNC_LOG_FORMAT=json",
		"PATH=" + os.Getenv("PATH"),
		// envconfig reads a variable's bare name when the prefixed one is
		// unset; these would break the function if it ever did.
		"USER=nobody-jetsync", "ADDR=127.0.0.1:1", "URL=nats://127.0.0.1:1", "DATABASE=nope",
	}
}

// startBinary runs the function binary bin with cfg's environment and
// extra variables until the test ends; its output is logged if the test
// fails.
func startBinary(t *testing.T, bin string, cfg Config, extra ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(envOf(cfg), extra...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("function %s output:\n%s", cfg.Name, out.String())
		}
	})
	return cmd
}

// TestKilledFunctionResumes SIGKILLs two function processes on one prefix —
// an upsert one and an append (history) one — while each holds a batch it
// has not committed (a testhooks build pauses 300 ms before every write),
// then writes other keys and starts them again. Every key of both phases
// ends with its last value, one row per key, and the history holds every
// change of the stream once: as many rows as distinct sequences as
// messages. The control acks each batch before writing it: the batch held
// at the kill is lost, and the history must lack changes.
func TestKilledFunctionResumes(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "ack after commit", "ack before commit", func(t *testing.T, control bool) {
		bin := testenv.Build(t, "./cmd/jetsync-table", "testhooks")
		w := newWorld(t)
		ctx := context.Background()
		prefix, table, history := w.Prefix("person"), w.personsTable(), w.Table("history", historySchema)
		w.StartBridge(prefix)
		upsert := w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "first_name:first,age:age", testenv.MySQLAddr())
		appendCfg := w.tableConfig(testenv.Name("history"), prefix, history, "person_id", "age:age", testenv.MySQLAddr())
		appendCfg.Mode = "append"
		hooks := "JETSYNC_TEST_HOOKS=write-pause=300ms"
		if control {
			hooks += ",ack-before-commit"
		}
		start := func(cfg Config, extra ...string) *exec.Cmd { return startBinary(t, bin, cfg, extra...) }
		first := []*exec.Cmd{start(upsert, hooks), start(appendCfg, hooks)}
		want := map[string]int{}
		write := func(base, from, to int) {
			for i := from; i < to; i++ {
				id := strconv.Itoa(base + i%300)
				w.Redis.HSet(ctx, prefix+":"+id, "first_name", "n"+id, "age", strconv.Itoa(i))
				want[id] = i
			}
		}
		write(0, 0, 1500)
		// Kill them while they are busy: some rows landed in both tables, not all.
		testenv.Eventually(t, 20*time.Second, func() error {
			if w.Count(table) == 0 || w.Count(history) == 0 {
				return fmt.Errorf("no rows yet")
			}
			return nil
		})
		for _, cmd := range first {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
		}
		write(300, 1500, 3000) // other keys: nothing of the first phase is written again
		start(upsert)
		start(appendCfg)
		// Drained: the stream stopped growing and both consumers are idle.
		testenv.Eventually(t, 90*time.Second, func() error {
			n := w.streamCount(prefix)
			time.Sleep(500 * time.Millisecond)
			if m := w.streamCount(prefix); m != n {
				return fmt.Errorf("the stream is still growing (%d → %d)", n, m)
			}
			for _, name := range []string{upsert.Name, appendCfg.Name} {
				if err := w.idle(name); err != nil {
					return err
				}
			}
			return nil
		})

		changes := w.streamCount(prefix)
		var rows, distinct int
		if err := w.DB.QueryRow("SELECT COUNT(*), COUNT(DISTINCT jetsync_seq) FROM "+history).Scan(&rows, &distinct); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d changes in the stream; history %d rows, %d distinct sequences", changes, rows, distinct)
		if control {
			if distinct >= changes {
				t.Fatalf("control: the history holds %d of %d changes; acking before the commit should have lost the batch held at the kill", distinct, changes)
			}
			return
		}
		if rows != changes || distinct != changes {
			t.Fatalf("history: %d rows, %d distinct sequences, for %d changes in the stream", rows, distinct, changes)
		}
		w.waitRows(table, want, 30*time.Second)
		if n := w.Count(table); n != 600 {
			t.Fatalf("table has %d rows, want 600", n)
		}
	})
}

// TestProcessStopsOnBadConfig runs the binary with configurations a person
// gets wrong and checks the exit status and the message.
func TestProcessStopsOnBadConfig(t *testing.T) {
	t.Parallel()
	bin := testenv.Build(t, "./cmd/jetsync-table")
	w := newWorld(t)
	table := w.personsTable()
	good := envOf(w.tableConfig(testenv.Name("persons"), "person", table, "person_id", "age:age", testenv.MySQLAddr()))
	tests := []struct {
		name  string
		env   []string
		code  int
		wants string
	}{
		{"missing variable", []string{"JETSYNC_TABLE="}, 2, "JETSYNC_TABLE"},
		{"unknown column", []string{"JETSYNC_MAPPINGS=age:agee"}, 1, "has no column agee"},
		{"bad batch size", []string{"JETSYNC_BATCH_SIZE=lots"}, 2, "BATCH_SIZE"},
		{"unknown connector", []string{"JETSYNC_CONNECTOR=mongo"}, 2, `JETSYNC_CONNECTOR="mongo"`},
		{"bad prefix", []string{"JETSYNC_PREFIX=a.b"}, 2, "JETSYNC_PREFIX"},
		{"password twice", []string{"JETSYNC_MYSQL_PASSWORD=x", "JETSYNC_MYSQL_PASSWORD_FILE=/nonexistent"}, 2, "both set"},
		{"no function name", []string{"JETSYNC_FUNCTION_NAME="}, 2, "JETSYNC_FUNCTION_NAME is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin)
			cmd.Env = append(append([]string{}, good...), tt.env...)
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != tt.code {
				t.Fatalf("exit: %v, want status %d; output:\n%s", err, tt.code, out)
			}
			if !strings.Contains(string(out), tt.wants) {
				t.Fatalf("output does not say %q:\n%s", tt.wants, out)
			}
			if strings.Contains(string(out), "JETSYNC_MYSQL_PASSWORD=x") || strings.Contains(string(out), `"x"`) {
				t.Fatalf("output shows the secret:\n%s", out)
			}
		})
	}
}
