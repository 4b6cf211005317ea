package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/cli"
	"github.com/jetsync/jetsync/infra/platform"
	"github.com/jetsync/jetsync/infra/testenv"
	"github.com/jetsync/jetsync/infra/testenv/e2e"
)

func jetsync(t *testing.T, w *e2e.World, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), cli.Config{NATS: platform.NATSConfig{URL: w.NATSURL}, Stream: w.Stream}, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func names(table string) handlers.Function {
	return handlers.FunctionFunc(func(_ context.Context, b *handlers.Batch) error {
		for _, c := range b.Changes {
			key := []handlers.Column{{Name: "id", Value: c.ID}}
			if c.Op == change.Delete {
				b.Delete(table, key)
				continue
			}
			b.Upsert(table, key, []handlers.Column{{Name: "name", Value: c.Nullable("name")}})
		}
		return nil
	})
}

// TestDeadLetterTools lists, shows, requeues and purges the dead letters of
// a function running against Redis, the bridge, JetStream and MariaDB.
func TestDeadLetterTools(t *testing.T) {
	t.Parallel()
	w := e2e.New(t)
	ctx := context.Background()
	prefix := w.Prefix("p")
	table := w.Table("names", "id VARBINARY(64) PRIMARY KEY, name VARCHAR(4)")
	fn := testenv.Name("names")
	w.StartBridge(prefix)
	w.StartFunction(w.FunctionConfig(fn, prefix), names(table))

	if code, out, _ := jetsync(t, w, "dlq", "list", fn); code != 0 || !strings.Contains(out, "no dead letters for "+fn) {
		t.Fatalf("list before any dead letter: %d %q", code, out)
	}
	// Key 1 lands first, so that the bridge's initial resync is over before
	// keys 2 and 3 are written (else a resync may publish them a second
	// time, and each would be dead-lettered twice).
	w.Redis.HSet(ctx, prefix+":1", "name", "ok")
	w.WaitRows(10*time.Second, []string{"1|ok"}, "SELECT id, name FROM "+table)
	w.Redis.HSet(ctx, prefix+":2", "name", "too long")
	w.Redis.HSet(ctx, prefix+":3", "name", "also too long")

	var listed []struct {
		Seq    uint64
		Key    string
		Reason string
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		code, out, errOut := jetsync(t, w, "dlq", "list", fn, "--json")
		if code != 0 {
			return fmt.Errorf("list --json: %d %s", code, errOut)
		}
		if err := json.Unmarshal([]byte(out), &listed); err != nil {
			return err
		}
		if len(listed) != 2 {
			return fmt.Errorf("%d dead letters, want 2", len(listed))
		}
		return nil
	})
	// Keys live on different bridge workers: their order is not fixed.
	if listed[0].Key == prefix+":3" {
		listed[0], listed[1] = listed[1], listed[0]
	}
	if listed[0].Key != prefix+":2" || listed[1].Key != prefix+":3" || !strings.Contains(listed[0].Reason, "Data too long") {
		t.Fatalf("dead letters %+v", listed)
	}
	code, out, _ := jetsync(t, w, "dlq", "list", fn)
	if code != 0 || !strings.Contains(out, "SEQ") || !strings.Contains(out, prefix+":3") || !strings.Contains(out, "2 dead letters for "+fn) {
		t.Fatalf("list: %d\n%s", code, out)
	}
	if code, out, _ := jetsync(t, w, "dlq", "list", "--limit", "1", fn); code != 0 || !strings.Contains(out, "1 of 2 dead letters for "+fn) {
		t.Fatalf("list --limit 1: %d\n%s", code, out)
	}
	code, out, _ = jetsync(t, w, "dlq", "show", fn, fmt.Sprint(listed[0].Seq))
	if code != 0 || !strings.Contains(out, "key:     "+prefix+":2") || !strings.Contains(out, `"name": "too long"`) || !strings.Contains(out, "Jetsync-Function: "+fn) {
		t.Fatalf("show: %d\n%s", code, out)
	}

	// Fix the schema, requeue the first: it is applied now.
	testenv.Exec(t, w.DB, "ALTER TABLE "+table+" MODIFY name VARCHAR(64)")
	if code, out, errOut := jetsync(t, w, "dlq", "requeue", fn, fmt.Sprint(listed[0].Seq)); code != 0 || !strings.Contains(out, "1 dead letters of "+fn+" requeued") {
		t.Fatalf("requeue: %d %s %s", code, out, errOut)
	}
	w.WaitRows(10*time.Second, []string{"1|ok", "2|too long"}, "SELECT id, name FROM "+table+" ORDER BY id")

	// Key 3 changed again meanwhile: its dead letter is older than what the
	// table holds, so requeueing it must not bring the old value back.
	w.Redis.HSet(ctx, prefix+":3", "name", "newer")
	w.WaitRows(10*time.Second, []string{"3|newer"}, "SELECT id, name FROM "+table+" WHERE id = '3'")
	if code, _, errOut := jetsync(t, w, "dlq", "requeue", fn, "--all"); code != 0 {
		t.Fatalf("requeue --all: %d %s", code, errOut)
	}
	w.Redis.HSet(ctx, prefix+":4", "name", "last")
	w.WaitRows(10*time.Second, []string{"1|ok", "2|too long", "3|newer", "4|last"}, "SELECT id, name FROM "+table+" ORDER BY id")
	if code, out, _ := jetsync(t, w, "dlq", "list", fn); code != 0 || !strings.Contains(out, "no dead letters") {
		t.Fatalf("list after requeue: %d %s", code, out)
	}

	// Purge.
	w.Redis.HSet(ctx, prefix+":5", "name", strings.Repeat("x", 65)) // too long for VARCHAR(64)
	testenv.Eventually(t, 10*time.Second, func() error {
		if _, out, _ := jetsync(t, w, "dlq", "list", fn); !strings.Contains(out, "1 dead letters") {
			return fmt.Errorf("list: %s", out)
		}
		return nil
	})
	if code, out, _ := jetsync(t, w, "dlq", "purge", fn, "--yes"); code != 0 || !strings.Contains(out, "purged 1 dead letters") {
		t.Fatalf("purge: %d %s", code, out)
	}

	// Exit statuses scripts can rely on.
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"dlq", "show", fn, "999999"}, cli.ExitNotFound},
		{[]string{"dlq", "purge", fn, "--yes"}, cli.ExitNotFound},
		{[]string{"dlq", "purge", fn}, cli.ExitUsage}, // no --yes
		{[]string{"dlq", "requeue", fn, "--all"}, cli.ExitNotFound},
		{[]string{"dlq", "frob", fn}, cli.ExitUsage},
		{[]string{"dlq", "show", fn, "x"}, cli.ExitUsage},
		{[]string{"dlq", "requeue", "bridge", "--all"}, cli.ExitUsage},
		{[]string{"nope"}, cli.ExitUsage},
		{nil, cli.ExitUsage},
		{[]string{"version"}, cli.ExitOK},
	} {
		if code, _, errOut := jetsync(t, w, tt.args...); code != tt.code {
			t.Errorf("jetsync %v: exit %d, want %d (%s)", tt.args, code, tt.code, errOut)
		}
	}
}

// TestReplayTruncateRefused: a function that cannot truncate refuses
// `replay --truncate`; the tool says why and exits 1, and a replay without
// truncation then runs through the same function.
func TestReplayTruncateRefused(t *testing.T) {
	t.Parallel()
	w := e2e.New(t)
	ctx := context.Background()
	prefix := w.Prefix("p")
	table := w.Table("names", "id VARBINARY(64) PRIMARY KEY, name VARCHAR(64)")
	fn := testenv.Name("names")
	w.StartBridge(prefix)
	w.StartFunction(w.FunctionConfig(fn, prefix), names(table))
	w.Redis.HSet(ctx, prefix+":1", "name", "one")
	w.WaitRows(10*time.Second, []string{"1|one"}, "SELECT id, name FROM "+table)

	code, out, errOut := jetsync(t, w, "replay", fn, "--all", "--truncate", "--yes")
	if code != cli.ExitFailed || !strings.Contains(errOut, "cannot truncate") {
		t.Fatalf("replay --truncate of a function without Truncate: %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := jetsync(t, w, "status"); code != 0 || !strings.Contains(out, "failed: ") {
		t.Fatalf("status shows the failed replay: %d\n%s", code, out)
	}
	if code, out, errOut := jetsync(t, w, "replay", fn, "--all", "--restart"); code != 0 || !strings.Contains(out, "done") {
		t.Fatalf("replay --restart without truncation: %d\n%s\n%s", code, out, errOut)
	}
	w.WaitRows(10*time.Second, []string{"1|one"}, "SELECT id, name FROM "+table)
}

// TestCommandLine: --help on every command, flags in any position, the
// NATS flags, shell completion, and confirmations for what destroys.
func TestCommandLine(t *testing.T) {
	t.Parallel()
	w := e2e.New(t)
	for _, args := range [][]string{{"--help"}, {"dlq", "--help"}, {"dlq", "list", "--help"}, {"replay", "--help"}, {"status", "-h"}} {
		code, out, errOut := jetsync(t, w, args...)
		if code != cli.ExitOK || !strings.Contains(out, "Usage:") {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	if code, out, _ := jetsync(t, w, "dlq", "list", "--help"); code != 0 || !strings.Contains(out, "--limit") || !strings.Contains(out, "--nats-url") {
		t.Fatalf("dlq list --help lacks its flags:\n%s", out)
	}
	if code, out, _ := jetsync(t, w, "completion", "bash"); code != 0 || !strings.Contains(out, "bash completion") {
		t.Fatalf("completion bash: exit %d\n%.200s", code, out)
	}
	if code, out, _ := jetsync(t, w, "version"); code != 0 || !strings.HasPrefix(out, "jetsync ") {
		t.Fatalf("version: exit %d %q", code, out)
	}
	// --json before the function is a flag, not the function's name: the
	// stream has no dead-letter stream yet, so nothing matches.
	if code, _, errOut := jetsync(t, w, "dlq", "list", "--json", "fn"); code != cli.ExitNotFound || strings.Contains(errOut, `"--json"`) {
		t.Fatalf("dlq list --json fn: exit %d %s", code, errOut)
	}
	// The NATS flag beats the environment: nothing listens on port 1.
	if code, _, errOut := jetsync(t, w, "--nats-url", "nats://127.0.0.1:1", "status"); code != cli.ExitFailed {
		t.Fatalf("status through a dead --nats-url: exit %d %s", code, errOut)
	}
	for _, args := range [][]string{{"dlq", "purge", "fn"}, {"replay", "fn", "--all", "--truncate"}} {
		code, _, errOut := jetsync(t, w, args...)
		if code != cli.ExitUsage || !strings.Contains(errOut, "add --yes") {
			t.Fatalf("%v without --yes: exit %d %s", args, code, errOut)
		}
	}
	if code, _, _ := jetsync(t, w, "frobnicate"); code != cli.ExitUsage {
		t.Fatalf("an unknown command: exit %d", code)
	}
}

// TestStatusShowsTheActiveBridge: status names each HA lease's holder, the
// bridge that carries its Redis, and every bridge of the lease with its
// role, prefixes, mode and gaps.
func TestStatusShowsTheActiveBridge(t *testing.T) {
	t.Parallel()
	w := e2e.New(t)
	prefix := w.Prefix("p")
	cfg := w.BridgeConfig(prefix)
	cfg.HALease, cfg.HAGroup, cfg.HATTL = true, testenv.Name("g"), 5*time.Second
	w.StartBridgeWith(cfg)
	cfg.Journal = []string{prefix}
	w.StartBridgeWith(cfg) // a standby, in journal mode
	testenv.Eventually(t, 10*time.Second, func() error {
		code, out, errOut := jetsync(t, w, "status")
		if code != cli.ExitOK || !strings.Contains(out, "bridge lease "+cfg.HAGroup+": active ") || !strings.Contains(out, "1 standing by") ||
			!strings.Contains(out, ": standby, prefixes "+prefix+", journal for "+prefix) || !strings.Contains(out, ": active, prefixes "+prefix+", notifications, 0 gaps") {
			return fmt.Errorf("status: exit %d\n%s%s", code, out, errOut)
		}
		return nil
	})
}
