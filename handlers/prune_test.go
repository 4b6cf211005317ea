package handlers_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/testenv"
)

// publishOp publishes one change of key p:<id>; a requeue of a dead letter
// when orig > 0 (with the headers `jetsync dlq requeue` sets).
func (r *rig) publishOp(id string, op change.Op, fields map[string]string, orig uint64) {
	r.t.Helper()
	c, err := change.New(r.prefix+":"+id, op, fields, time.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	m := nats.NewMsg(change.Subject(r.prefix, id))
	m.Data, _ = c.Encode()
	if orig > 0 {
		m.Header.Set(change.HeaderOriginalSeq, fmt.Sprint(orig))
		m.Header.Set(change.HeaderRequeuedFor, r.cfg.Name)
	}
	if _, err := r.js.PublishMsg(context.Background(), m); err != nil {
		r.t.Fatal(err)
	}
}

// purgeBelow drops the change stream's messages below seq, as its limits
// would: seq becomes its first sequence.
func (r *rig) purgeBelow(seq uint64) {
	r.t.Helper()
	s, err := r.js.Stream(context.Background(), r.cfg.Stream)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := s.Purge(context.Background(), jetstream.WithPurgeSequence(seq)); err != nil {
		r.t.Fatal(err)
	}
}

// guardState returns how many guard entries the rig's function has and its
// pruning mark.
func (r *rig) guardState(db *sql.DB) (entries int, mark uint64) {
	r.t.Helper()
	if err := db.QueryRow("SELECT COUNT(*) FROM jetsync_applied WHERE function_name = ?", r.cfg.Name).Scan(&entries); err != nil {
		r.t.Fatal(err)
	}
	err := db.QueryRow("SELECT seq FROM jetsync_checkpoints WHERE function_name = ?", r.cfg.Name+"/pruned").Scan(&mark)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		r.t.Fatal(err)
	}
	return entries, mark
}

// TestPruneDropsUnreachableEntries: ten keys written and deleted leave ten
// guard entries (tombstones); once the stream no longer holds their
// changes, the function drops them and records the horizon. The control
// (JETSYNC_PRUNE_INTERVAL=0) keeps them.
func TestPruneDropsUnreachableEntries(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "pruned", "never", func(t *testing.T, control bool) {
		r := newRig(t)
		db := testenv.MySQL(t)
		for i := range 10 {
			r.publishOp(fmt.Sprint(i), change.Upsert, map[string]string{"name": "x"}, 0)
			r.publishOp(fmt.Sprint(i), change.Delete, nil, 0)
		}
		r.publishOp("live", change.Upsert, map[string]string{"name": "live"}, 0) // seq 21
		cfg := r.cfg
		cfg.PruneInterval = 100 * time.Millisecond
		if control {
			cfg.PruneInterval = 0
		}
		r.start(cfg)
		testenv.Eventually(t, 20*time.Second, func() error {
			if n, _ := r.guardState(db); n != 11 || r.count() != 1 {
				return fmt.Errorf("%d guard entries and %d rows, want 11 and 1", n, r.count())
			}
			return nil
		})
		r.purgeBelow(21)
		if control {
			time.Sleep(time.Second) // ten intervals of the bounded case
			if n, mark := r.guardState(db); n != 11 || mark != 0 {
				t.Fatalf("control: %d entries, mark %d, want 11 and none", n, mark)
			}
			return
		}
		testenv.Eventually(t, 20*time.Second, func() error {
			if n, mark := r.guardState(db); n != 1 || mark != 21 {
				return fmt.Errorf("%d entries, mark %d, want 1 (the live key's) and 21", n, mark)
			}
			return nil
		})
		if got := r.metric("jetsync_function_guard_entries_pruned_total", fmt.Sprintf("function=%q", cfg.Name)); got != 10 {
			t.Fatalf("pruned metric %v, want 10", got)
		}
	})
}

// TestPruneMarkRefusesOlderChange: after the entry of key k (applied at 2)
// is pruned, a requeued change of k ordered 1 arrives. The function cannot
// tell that it is older than what it applied, so it files it as a dead
// letter naming the horizon and `--as-new`; the row keeps the newer value.
// The control applies it like any change and the row goes back to the older
// value — the stale overwrite the mark prevents.
func TestPruneMarkRefusesOlderChange(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "refused", "no mark", func(t *testing.T, control bool) {
		r := newRig(t)
		db := testenv.MySQL(t)
		r.publishOp("k", change.Upsert, map[string]string{"name": "old"}, 0) // 1
		r.publishOp("k", change.Upsert, map[string]string{"name": "new"}, 0) // 2
		if control {
			r.hook = handlers.WithoutPruneMark
		}
		cfg := r.cfg
		cfg.PruneInterval = 100 * time.Millisecond
		r.start(cfg)
		testenv.Eventually(t, 20*time.Second, func() error {
			if got := r.name(db, "k"); got != "new" {
				return fmt.Errorf("row k = %q", got)
			}
			return nil
		})
		r.purgeBelow(3)
		testenv.Eventually(t, 20*time.Second, func() error {
			if n, mark := r.guardState(db); n != 0 || mark != 3 {
				return fmt.Errorf("%d entries, mark %d, want 0 and 3", n, mark)
			}
			return nil
		})
		r.publishOp("k", change.Upsert, map[string]string{"name": "old"}, 1)
		if control {
			testenv.Eventually(t, 20*time.Second, func() error {
				if got := r.name(db, "k"); got != "old" {
					return fmt.Errorf("control: row k = %q, want the older change applied", got)
				}
				return nil
			})
			return
		}
		dls := r.deadLetters(1)
		if reason := dls[0].Header.Get(change.HeaderError); !strings.Contains(reason, "pruning horizon") || !strings.Contains(reason, "--as-new") {
			t.Fatalf("reason %q", reason)
		}
		if got := r.name(db, "k"); got != "new" {
			t.Fatalf("row k = %q, want new", got)
		}
	})
}

// TestPruneHorizonKeepsDeadLettersJudged: a dead letter of key k (ordered
// 3) waits while the stream drops everything below 5. The horizon stays at
// 3, so k's entry (4) is kept and the dead letter, requeued, is judged by
// the guard: stale, the row keeps the newer value. The control leaves dead
// letters out of the horizon: k's entry is pruned and the requeued dead
// letter is refused again as below the mark.
func TestPruneHorizonKeepsDeadLettersJudged(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "judged", "dead letters left out", func(t *testing.T, control bool) {
		r := newRig(t)
		db := testenv.MySQL(t)
		r.publishOp("gone", change.Upsert, map[string]string{"name": "a"}, 0)            // 1
		r.publishOp("gone", change.Delete, nil, 0)                                       // 2
		r.publishOp("k", change.Upsert, map[string]string{"name": "bad", "age": "x"}, 0) // 3: dead letter
		if control {
			r.hook = handlers.WithoutDeadLettersInPruneHorizon
		}
		cfg := r.cfg
		cfg.PruneInterval = 100 * time.Millisecond
		r.start(cfg)
		r.deadLetters(1)
		r.publishOp("k", change.Upsert, map[string]string{"name": "new", "age": "1"}, 0) // 4
		testenv.Eventually(t, 20*time.Second, func() error {
			if got := r.name(db, "k"); got != "new" {
				return fmt.Errorf("row k = %q", got)
			}
			return nil
		})
		r.purgeBelow(5)
		wantMark := uint64(3)
		if control {
			wantMark = 5
		}
		testenv.Eventually(t, 20*time.Second, func() error {
			if _, mark := r.guardState(db); mark != wantMark {
				return fmt.Errorf("mark %d, want %d", mark, wantMark)
			}
			return nil
		})
		r.publishOp("k", change.Upsert, map[string]string{"name": "bad", "age": "3"}, 3) // the dead letter, fixed and requeued
		if control {
			r.deadLetters(2)
			return
		}
		label := `result="stale"`
		testenv.Eventually(t, 20*time.Second, func() error {
			if n := r.metric("jetsync_function_changes_total", label); n != 1 {
				return fmt.Errorf("%v stale changes, want 1", n)
			}
			return nil
		})
		if got := r.name(db, "k"); got != "new" {
			t.Fatalf("row k = %q, want new", got)
		}
		r.deadLetters(1)
	})
}
