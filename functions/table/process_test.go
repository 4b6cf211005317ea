package main

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

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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

// TestKilledFunctionResumes kills the function process with SIGKILL in the
// middle of a stream of writes and starts it again: every key ends with its
// last value, one row per key, and the consumer has nothing left unacked.
func TestKilledFunctionResumes(t *testing.T) {
	t.Parallel()
	bin := testenv.Build(t, ".")
	w := newWorld(t)
	ctx := context.Background()
	prefix, table := w.Prefix("person"), w.personsTable()
	w.StartBridge(prefix)
	cfg := w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "first_name:first,age:age", testenv.MySQLAddr())

	start := func() *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = envOf(cfg)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("function output:\n%s", out.String())
			}
		})
		return cmd
	}

	first := start()
	want := map[string]int{}
	write := func(from, to int) {
		for i := from; i < to; i++ {
			id := strconv.Itoa(i % 300)
			w.Redis.HSet(ctx, prefix+":"+id, "first_name", "n"+id, "age", strconv.Itoa(i))
			want[id] = i
		}
	}
	write(0, 1500)
	// Kill it while it is busy: wait until some rows landed, not all.
	testenv.Eventually(t, 10*time.Second, func() error {
		if w.Count(table) == 0 {
			return fmt.Errorf("no rows yet")
		}
		return nil
	})
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	write(1500, 3000)
	start()
	w.waitRows(table, want, 30*time.Second)

	nc, err := nats.Connect(w.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	testenv.Eventually(t, 10*time.Second, func() error {
		c, err := js.Consumer(ctx, w.Stream, cfg.Name)
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("consumer has %d pending and %d unacked", info.NumPending, info.NumAckPending)
		}
		return nil
	})
	if n := w.Count(table); n != 300 {
		t.Fatalf("table has %d rows, want 300", n)
	}
}

// TestProcessStopsOnBadConfig runs the binary with configurations a person
// gets wrong and checks the exit status and the message.
func TestProcessStopsOnBadConfig(t *testing.T) {
	t.Parallel()
	bin := testenv.Build(t, ".")
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
