package bridge

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jetsync/jetsync/infra/testenv"
)

// TestRGSyncTakesEachWrite: a busy bridge (its one worker reads 300 ms
// late) still sees every write's rgsync operation: 20 writes of '+<i>', 20 ms
// apart, are each acknowledged on {<key>}<i>, because the subscriber takes
// '#' out of the hash at each write's notification. Control: taken at the
// worker's read instead, the later writes replace '#' unseen and their
// acknowledgements never come.
func TestRGSyncTakesEachWrite(t *testing.T) {
	testenv.WithControl(t, "taken at notification", "taken at read", func(t *testing.T, control bool) {
		ctx := context.Background()
		rdb := testenv.Redis(t)
		prefix := testenv.Name("p")
		testenv.DeletePrefix(t, rdb, prefix)
		cfg := testConfig(testenv.RedisAddr(), testenv.NATS(t), prefix)
		cfg.Rgsync, cfg.Workers = []string{prefix}, 1
		cfg.hooks.readLag, cfg.hooks.noRGSyncTake = 300*time.Millisecond, control
		startBridge(t, cfg)
		key := prefix + ":1"
		const writes = 20
		for i := 1; i <= writes; i++ {
			if err := rdb.HSet(ctx, key, "f", i, "#", fmt.Sprintf("+%d", i)).Err(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		testenv.Eventually(t, 10*time.Second, func() error {
			if rdb.HExists(ctx, key, "#").Val() {
				return errors.New("# not taken yet")
			}
			return nil
		})
		var missing []int
		for i := 1; i <= writes; i++ {
			if rdb.Exists(ctx, fmt.Sprintf("{%s}%d", key, i)).Val() == 0 {
				missing = append(missing, i)
			}
		}
		switch {
		case !control && len(missing) > 0:
			t.Fatalf("writes %v were never acknowledged", missing)
		case control && len(missing) == 0:
			t.Fatal("control: every write acknowledged although '#' was taken at the read; the test cannot see a lost operation")
		case control:
			t.Logf("control: %d of %d writes never acknowledged", len(missing), writes)
		}
		if got := rdb.HGet(ctx, key, "f").Val(); got != fmt.Sprint(writes) {
			t.Fatalf("f = %q, want the last write's %d", got, writes)
		}
	})
}
