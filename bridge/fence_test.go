package bridge

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/connectors/sqlite"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/platform"
	"github.com/jetsync/jetsync/infra/testenv"
)

// TestPartitionedBridgeIsFencedReplicated is TestPartitionedBridgeIsFenced
// on a 3-node JetStream cluster with a replicated stream, where the stream
// cannot refuse the old bridge's late publish: it is stored, and the
// function (a real runner writing to SQLite) must not let it win over the
// newer bridge's state. The control publishes without an epoch and must
// see the older state win in the table.
func TestPartitionedBridgeIsFencedReplicated(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "fenced", "no epoch", func(t *testing.T, control bool) {
		ctx := context.Background()
		rdb := testenv.Redis(t)
		prefix := testenv.Name("p")
		testenv.DeletePrefix(t, rdb, prefix)
		cluster := testenv.StartNATSCluster(t, 3)
		first := strings.Split(cluster.URL(), ",")[0]
		proxy := testenv.NewProxy(t, strings.TrimPrefix(first, "nats://"))
		cfg := testConfig(testenv.RedisAddr(), cluster.URL(), prefix)
		cfg.StreamConfig.Replicas = 3
		cfg.HALease, cfg.HATTL, cfg.HAGroup = true, 2*time.Second, prefix
		cfg.hooks.noFence = control
		_, b := startHAPair(t, cfg, proxy)
		rec := recordStream(t, cfg)
		db := runHistoryFunction(t, cfg, prefix)
		key := prefix + ":1"
		rdb.HSet(ctx, key, "n", "0")
		waitKey(t, db, "1", "0")

		proxy.Blackhole()
		rdb.HSet(ctx, key, "n", "1") // the old bridge reads it and publishes into the hole
		waitActive(t, b, 20*time.Second, "the standby has not taken over")
		rdb.HSet(ctx, key, "n", "2")
		waitKey(t, db, "1", "2")
		proxy.Heal() // the old bridge's publish of n=1 arrives now
		// A replicated stream stores it after the newer state: the
		// functions are the fence here.
		rec.waitFor(t, key, func(_ change.Change, all []change.Change) error {
			newer := false
			for _, c := range all {
				if newer && c.Fields["n"] == "1" {
					return nil
				}
				newer = newer || c.Fields["n"] == "2"
			}
			return fmt.Errorf("the old bridge's late publish is not stored after the newer state yet")
		})
		rdb.HSet(ctx, prefix+":end", "n", "end") // applied after the late change
		waitKey(t, db, "end", "end")
		// The history of what the function applied to key 1, in stream
		// order: a 1 after a 2 is the older state winning (the old bridge
		// may publish 2 again after its late 1, so the last row alone
		// cannot tell).
		history := historyOf(t, db, "1")
		regressed := strings.Contains(strings.Join(history, ""), "21")
		if control {
			if !regressed {
				t.Fatalf("control: applied %v, want the late older state 1 after 2; the test cannot tell the fence works", history)
			}
			return
		}
		if regressed {
			t.Fatalf("applied %v to key 1: the older state won after the partition healed", history)
		}
	})
}

// runHistoryFunction runs a function of prefix that appends every change it
// applies to table h (seq, id, n) of a SQLite database of the test's own,
// and returns it.
func runHistoryFunction(t *testing.T, bc Config, prefix string) *sql.DB {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sink, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "t.db"), BusyTimeout: 5 * time.Second, Synchronous: "normal"}, testenv.QuietLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.DB().Exec("CREATE TABLE h (seq INTEGER PRIMARY KEY, id TEXT, n TEXT)"); err != nil {
		t.Fatal(err)
	}
	var fn historyFunction
	cfg := handlers.Config{
		Name: testenv.Name("t"), Version: "1", Prefix: prefix, Stream: bc.StreamConfig.Name,
		NATS:      platform.NATSConfig{URL: bc.NATS.URL},
		LogConfig: platform.LogConfig{Format: "text", Level: "info"},
		BatchSize: 100, BatchWait: 10 * time.Millisecond, AckWait: 5 * time.Second,
		RetryMax: 500 * time.Millisecond, ShutdownGrace: 5 * time.Second,
	}
	runner, err := handlers.New(cfg, fn, sink, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return sink.DB()
}

// historyFunction appends every change it is given (it keeps history, so
// the runtime does not coalesce, and the guards refuse what is stale).
type historyFunction struct{}

func (historyFunction) KeepHistory() bool { return true }

func (historyFunction) Handle(_ context.Context, b *handlers.Batch) error {
	for _, c := range b.Changes {
		b.Upsert("h", []handlers.Column{{Name: "seq", Value: int64(c.StreamSeq)}},
			[]handlers.Column{{Name: "id", Value: c.ID}, {Name: "n", Value: c.Fields["n"]}})
	}
	return nil
}

// historyOf lists the values of n the function applied to id, in stream
// order.
func historyOf(t *testing.T, db *sql.DB, id string) []string {
	t.Helper()
	rows, err := db.Query("SELECT n FROM h WHERE id = ? ORDER BY seq", id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n sql.NullString
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n.String)
	}
	return out
}

// waitKey waits until the last value the function applied to id is want.
func waitKey(t *testing.T, db *sql.DB, id, want string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() error {
		h := historyOf(t, db, id)
		if len(h) == 0 || h[len(h)-1] != want {
			return fmt.Errorf("key %s: applied %v, want %s last", id, h, want)
		}
		return nil
	})
}

// startHAPair starts the active bridge of cfg, reaching NATS through proxy
// only (so the test can cut its link), waits until it is active, then
// starts the standby with cfg as it is.
func startHAPair(t *testing.T, cfg Config, proxy *testenv.Proxy) (active, standby *Bridge) {
	t.Helper()
	old := cfg
	old.NATS.URL = "nats://" + proxy.Addr
	active = startBridge(t, old)
	waitActive(t, active, 20*time.Second, "the first bridge is not active yet")
	return active, startBridge(t, cfg)
}

// waitActive waits until b holds its lease, failing with why after timeout.
func waitActive(t *testing.T, b *Bridge, timeout time.Duration, why string) {
	t.Helper()
	testenv.Eventually(t, timeout, func() error {
		if !b.active.Load() {
			return errors.New(why)
		}
		return nil
	})
}
