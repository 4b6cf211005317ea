package table

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetsync/jetsync/infra/cli"
	"github.com/jetsync/jetsync/infra/platform"
	"github.com/jetsync/jetsync/infra/testenv"
)

// jetsync runs the jetsync tool in-process against w's NATS and stream.
func (w *world) jetsync(ctx context.Context, args ...string) (int, string, string) {
	w.t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Run(ctx, cli.Config{NATS: platform.NATSConfig{URL: w.NATSURL}, Stream: w.Stream}, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

type statusJSON struct {
	Stream struct {
		Messages uint64 `json:"messages"`
		LastSeq  uint64 `json:"last_seq"`
	} `json:"stream"`
	Functions []struct {
		Name        string `json:"name"`
		Version     string `json:"version"`
		Prefix      string `json:"prefix"`
		Pending     uint64 `json:"pending"`
		AckFloor    uint64 `json:"ack_floor_seq"`
		DeadLetters uint64 `json:"dead_letters"`
		Replay      *struct {
			Done, Total uint64
		} `json:"replay"`
	} `json:"functions"`
}

// status reads `jetsync status --json`.
func (w *world) status(ctx context.Context) statusJSON {
	w.t.Helper()
	code, out, errOut := w.jetsync(ctx, "status", "--json")
	if code != 0 {
		w.t.Fatalf("status --json: %d %s", code, errOut)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		w.t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st
}

// redisRows reads the persons of prefix from Redis as "id|age" lines, sorted.
func (w *world) redisRows(ctx context.Context, prefix string) []string {
	w.t.Helper()
	keys, err := w.Redis.Keys(ctx, prefix+":*").Result()
	if err != nil {
		w.t.Fatal(err)
	}
	var rows []string
	for _, k := range keys {
		age, err := w.Redis.HGet(ctx, k, "age").Result()
		if err != nil {
			w.t.Fatal(err)
		}
		rows = append(rows, strings.TrimPrefix(k, prefix+":")+"|"+age)
	}
	sort.Strings(rows)
	return rows
}

// TestReplay drives `jetsync status` and `jetsync replay` against Redis, the
// bridge, the table function (in-process) and MariaDB: an emptied table is
// rebuilt from the stream and equals Redis again; a replay from a sequence
// brings back only what changed since; a replay that is watched, interrupted
// and resumed finishes; the live consumer keeps its own position.
func TestReplay(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	prefix, table := w.Prefix("person"), w.personsTable()
	fn := testenv.Name("persons")
	w.StartBridge(prefix)
	cfg := w.tableConfig(fn, prefix, table, "person_id", "first_name:first,last_name:last,age:age", testenv.MySQLAddr())
	cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	stop := w.startFunction(cfg)
	query := "SELECT person_id, age FROM " + table + " ORDER BY person_id"

	for i := 10; i < 40; i++ {
		w.Redis.HSet(ctx, fmt.Sprintf("%s:%d", prefix, i), "first_name", "p", "age", strconv.Itoa(i))
	}
	w.WaitRows(20*time.Second, w.redisRows(ctx, prefix), query)

	// status: the stream and the function, all applied.
	var st statusJSON
	testenv.Eventually(t, 10*time.Second, func() error {
		st = w.status(ctx)
		if len(st.Functions) != 1 || st.Functions[0].AckFloor != st.Stream.LastSeq || st.Stream.LastSeq < 30 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if f := st.Functions[0]; f.Name != fn || f.Version != "1" || f.Prefix != prefix || f.Pending != 0 || f.DeadLetters != 0 {
		t.Fatalf("function status %+v", f)
	}
	code, out, _ := w.jetsync(ctx, "status")
	if code != 0 || !strings.Contains(out, "FUNCTION") || !strings.Contains(out, fn) || !strings.Contains(out, "ACK FLOOR") {
		t.Fatalf("status: %d\n%s", code, out)
	}
	t.Logf("jetsync status:\n%s", out)
	_, metrics := testenv.HTTPGet("http://" + cfg.HTTPAddr + "/metrics")
	if got := testenv.MetricValue(metrics, `jetsync_function_last_applied_seq{function="`+fn+`"}`); got != float64(st.Stream.LastSeq) {
		t.Fatalf("jetsync_function_last_applied_seq = %v, want %d", got, st.Stream.LastSeq)
	}

	t.Run("all with truncate rebuilds an emptied table", func(t *testing.T) {
		testenv.Exec(t, w.DB, "DELETE FROM "+table)
		// A newer change applied by the live consumer after the table was
		// emptied: the replay must end with it, not with an older value.
		w.Redis.HSet(ctx, prefix+":12", "age", "120")
		w.WaitRows(10*time.Second, []string{"12|120"}, query)

		code, out, errOut := w.jetsync(ctx, "replay", fn, "--all", "--truncate", "--yes")
		t.Logf("jetsync replay --all --truncate:\n%s", out)
		if code != 0 || !strings.Contains(out, "replay "+fn+": done") {
			t.Fatalf("replay: %d\n%s\n%s", code, out, errOut)
		}
		if got, _ := w.Rows(query); strings.Join(got, ",") != strings.Join(w.redisRows(ctx, prefix), ",") {
			t.Fatalf("after replay:\n got %q\nwant %q", got, w.redisRows(ctx, prefix))
		}
	})

	t.Run("without truncate nothing already applied is written again", func(t *testing.T) {
		testenv.Exec(t, w.DB, "UPDATE "+table+" SET age = 999 WHERE person_id = '15'")
		if code, out, errOut := w.jetsync(ctx, "replay", fn, "--all"); code != 0 {
			t.Fatalf("replay: %d\n%s\n%s", code, out, errOut)
		}
		var age int
		if err := w.DB.QueryRow("SELECT age FROM " + table + " WHERE person_id = '15'").Scan(&age); err != nil || age != 999 {
			t.Fatalf("row 15 age %d (%v): the replay rewrote an applied change", age, err)
		}
		testenv.Exec(t, w.DB, "UPDATE "+table+" SET age = 15 WHERE person_id = '15'")
	})

	t.Run("from-seq replays only what changed since", func(t *testing.T) {
		from := w.status(ctx).Stream.LastSeq + 1
		for i := 50; i < 55; i++ {
			w.Redis.HSet(ctx, fmt.Sprintf("%s:%d", prefix, i), "first_name", "q", "age", strconv.Itoa(i))
		}
		w.WaitRows(10*time.Second, w.redisRows(ctx, prefix), query)
		code, out, errOut := w.jetsync(ctx, "replay", fn, "--from-seq", fmt.Sprint(from), "--truncate", "--yes")
		if code != 0 {
			t.Fatalf("replay: %d\n%s\n%s", code, out, errOut)
		}
		w.WaitRows(5*time.Second, []string{"50|50", "51|51", "52|52", "53|53", "54|54"}, query)
	})

	t.Run("interrupted watching resumes; the function finishes the replay", func(t *testing.T) {
		stop()
		watch, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		code, out, errOut := w.jetsync(watch, "replay", fn, "--all", "--truncate", "--yes")
		cancel()
		if code != 0 || !strings.Contains(out, "stopped watching") {
			t.Fatalf("interrupted replay: %d\n%s\n%s", code, out, errOut)
		}
		st := w.status(ctx)
		if r := st.Functions[0].Replay; r == nil || r.Done != 0 || r.Total == 0 {
			t.Fatalf("status of the waiting replay: %+v", st.Functions[0])
		}
		again, cancel := context.WithTimeout(ctx, time.Second)
		code, out, errOut = w.jetsync(again, "replay", fn, "--all")
		cancel()
		if code != 0 || !strings.Contains(out, "in progress") {
			t.Fatalf("second replay while one waits: %d\n%s\n%s", code, out, errOut)
		}
		// A change past the replay's end, which the live consumer may apply
		// before the replay truncates: the replay must bring it back.
		w.Redis.HSet(ctx, prefix+":13", "age", "130")
		cfg.HTTPAddr = ""
		w.startFunction(cfg)
		code, out, errOut = w.jetsync(ctx, "replay", fn)
		if code != 0 || !strings.Contains(out, "done") {
			t.Fatalf("resumed watching: %d\n%s\n%s", code, out, errOut)
		}
		w.WaitRows(10*time.Second, w.redisRows(ctx, prefix), query)
		// The live consumer kept its position: a new change still lands.
		w.Redis.HSet(ctx, prefix+":60", "age", "60")
		w.WaitRows(10*time.Second, w.redisRows(ctx, prefix), query)
	})

	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"replay", "nosuchfunction", "--all"}, cli.ExitNotFound},
		{[]string{"replay", fn}, cli.ExitNotFound}, // no replay in progress
		{[]string{"replay", fn, "--all", "--from-seq", "3"}, cli.ExitUsage},
		{[]string{"replay", fn, "--since", "yesterday"}, cli.ExitUsage},
		{[]string{"replay", fn, "--truncate"}, cli.ExitUsage},
		{[]string{"replay"}, cli.ExitUsage},
		{[]string{"status", "--xml"}, cli.ExitUsage},
		{[]string{"replay", fn, "--since", "1h"}, cli.ExitOK},
	} {
		if code, out, errOut := w.jetsync(ctx, tt.args...); code != tt.code {
			t.Errorf("jetsync %v: exit %d, want %d\n%s%s", tt.args, code, tt.code, out, errOut)
		}
	}
}
