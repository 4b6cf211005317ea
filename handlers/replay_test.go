package handlers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/cli"
	"github.com/jetsync/jetsync/infra/testenv"
)

// TestReplayKeepsNewerRow: a replay is asked for while key 1's last change
// is "old"; before the replay reaches it, the live consumer applies a newer
// change, "new" (the instance that applies it looks for replays only once
// an hour, and another instance, started afterwards, runs the replay). The
// replay goes through the same applier and sequence guards as live
// batches, so the replayed "old" is stale and the row keeps "new". The
// control replays without the guards: the older history must overwrite the
// newer row.
func TestReplayKeepsNewerRow(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "kept", "no guards", func(t *testing.T, control bool) {
		ctx := context.Background()
		r := newRig(t)
		name := func() (string, error) {
			var s string
			err := testenv.MySQL(t).QueryRow("SELECT name FROM " + r.table + " WHERE id = '1'").Scan(&s)
			return s, err
		}
		waitName := func(want string) {
			t.Helper()
			testenv.Eventually(t, 10*time.Second, func() error {
				if got, err := name(); err != nil || got != want {
					return fmt.Errorf("row 1: name %q (%v), want %q", got, err, want)
				}
				return nil
			})
		}
		live := r.cfg
		live.ReplayPoll = time.Hour // its first look, at start, finds nothing
		r.start(live)
		r.publish("1", map[string]string{"name": "old"})
		waitName("old")

		// The replay is asked for; its end is the sequence of "old".
		asked, cancel := context.WithTimeout(ctx, time.Second)
		var out, errOut bytes.Buffer
		code := cli.Run(asked, cli.Config{NATS: r.cfg.NATS, Stream: r.cfg.Stream}, []string{"replay", r.cfg.Name, "--all"}, &out, &errOut)
		cancel()
		if code != cli.ExitOK || !strings.Contains(out.String(), "stopped watching") {
			t.Fatalf("jetsync replay: exit %d\n%s%s", code, out.String(), errOut.String())
		}
		r.publish("1", map[string]string{"name": "new"})
		waitName("new") // applied live, before the replay began

		if control {
			r.hook = handlers.WithoutReplayGuards
		}
		r.start(r.cfg) // looks for the replay at once, and runs it
		testenv.Eventually(t, 15*time.Second, func() error {
			_, err := r.js.Consumer(ctx, r.cfg.Stream, change.ReplayConsumer(r.cfg.Name))
			if errors.Is(err, jetstream.ErrConsumerNotFound) {
				return nil
			}
			return fmt.Errorf("the replay is not done (consumer lookup: %v)", err)
		})
		got, err := name()
		if err != nil {
			t.Fatal(err)
		}
		if control {
			if got != "old" {
				t.Fatalf("control: row 1 has name %q after an unguarded replay; want the replayed %q over the newer row, or the test cannot see an overwrite", got, "old")
			}
			return
		}
		if got != "new" {
			t.Fatalf("row 1 has name %q after the replay: older history overwrote the newer %q", got, "new")
		}
		if n := r.metric("jetsync_function_changes_total", `result="stale"`); n != 1 {
			t.Fatalf("%v changes found stale in the replay, want 1 (the replayed old one)", n)
		}
	})
}
