package handlers_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/testenv"
)

// TestSupersededBridgeStaysOlder stores what a partition does to two bridge
// generations: bridge A marks its epoch and publishes, bridge B takes over
// (a newer marker) and publishes a newer state of key 1, then A's delayed
// publishes arrive: an older state of key 1, and a delete of key 2, which
// B never saw (the key was gone before B's resync). The function must keep
// B's state of key 1 and still apply A's delete of key 2. The control
// orders changes by stream sequence alone and must see A's older state win.
func TestSupersededBridgeStaysOlder(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "fenced", "stream order only", func(t *testing.T, control bool) {
		r := newRig(t)
		if control {
			r.hook = handlers.WithoutEpochFence
		}
		lease := testenv.Name("lease")
		epochA := r.mark(lease)
		r.publishFrom(epochA, lease, "1", change.Upsert, "a0")
		r.publishFrom(epochA, lease, "2", change.Upsert, "x")
		epochB := r.mark(lease)
		r.publishFrom(epochB, lease, "1", change.Upsert, "b")
		r.start(r.cfg)
		db := testenv.MySQL(t)
		testenv.Eventually(t, 20*time.Second, func() error {
			if r.name(db, "1") != "b" {
				return fmt.Errorf("the newer bridge's state has not been applied yet")
			}
			return nil
		})
		// The partition heals: A's delayed publishes are stored now.
		r.publishFrom(epochA, lease, "1", change.Upsert, "a1")
		r.publishFrom(epochA, lease, "2", change.Delete, "") // B never wrote key 2
		r.publish("3", map[string]string{"name": "end"})     // no epoch: the end of the test
		testenv.Eventually(t, 20*time.Second, func() error {
			if r.name(db, "3") != "end" {
				return fmt.Errorf("the batch has not been applied yet")
			}
			return nil
		})
		got1, got2 := r.name(db, "1"), r.name(db, "2")
		if control {
			if got1 != "a1" {
				t.Fatalf("control: key 1 = %q, want the late older state a1; the test cannot tell the fence works", got1)
			}
			return
		}
		if got1 != "b" {
			t.Errorf("key 1 = %q, want the newer bridge's state b", got1)
		}
		if got2 != "<none>" {
			t.Errorf("key 2 = %q, want its row deleted (no newer generation wrote it)", got2)
		}
	})
}

// mark publishes an epoch marker of lease, as a bridge does when it
// becomes active, and returns its sequence.
func (r *rig) mark(lease string) uint64 {
	r.t.Helper()
	ack, err := r.js.Publish(context.Background(), change.EpochSubject(lease), []byte(`{}`))
	if err != nil {
		r.t.Fatal(err)
	}
	return ack.Sequence
}

// publishFrom publishes a change of key id as the bridge of epoch does.
func (r *rig) publishFrom(epoch uint64, lease, id string, op change.Op, name string) {
	r.t.Helper()
	var fields map[string]string
	if op == change.Upsert {
		fields = map[string]string{"name": name}
	}
	c, err := change.New(r.prefix+":"+id, op, fields, time.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	m := nats.NewMsg(change.Subject(r.prefix, id))
	m.Data, _ = c.Encode()
	m.Header.Set(change.HeaderEpoch, strconv.FormatUint(epoch, 10))
	m.Header.Set(change.HeaderEpochSubject, change.EpochSubject(lease))
	if _, err := r.js.PublishMsg(context.Background(), m); err != nil {
		r.t.Fatal(err)
	}
}

// name is the name column of key id's row, or "<none>".
func (r *rig) name(db *sql.DB, id string) string {
	r.t.Helper()
	var name sql.NullString
	err := db.QueryRow("SELECT name FROM "+r.table+" WHERE id = ?", id).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "<none>"
	}
	if err != nil {
		r.t.Fatal(err)
	}
	return name.String
}
