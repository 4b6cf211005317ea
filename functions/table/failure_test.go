package table

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/connectors/mysql"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/testenv"
)

// hookedSink runs after after every committed write.
type hookedSink struct {
	handlers.Sink
	before func() // before each write
	after  func() // after each committed write with ops
	strip  bool   // drop the function name: no sequence guards (a control)
}

func (h *hookedSink) Write(ctx context.Context, w handlers.Write) error {
	if h.before != nil {
		h.before()
	}
	if h.strip {
		w.Function, w.Changes = "", nil
	}
	err := h.Sink.Write(ctx, w)
	if err == nil && len(w.Ops) > 0 && h.after != nil {
		h.after()
	}
	return err
}

// runTable runs the table function of cfg in-process with its sink wrapped.
func (w *world) runTable(ctx context.Context, cfg Config, log *slog.Logger, wrap func(handlers.Sink) handlers.Sink) error {
	fn, open, err := Build(cfg)
	if err != nil {
		return err
	}
	return handlers.Run(ctx, cfg.Config, fn, func(ctx context.Context, log *slog.Logger) (handlers.Sink, error) {
		s, err := open(ctx, log)
		if err != nil {
			return nil, err
		}
		return wrap(s), nil
	}, log)
}

func (w *world) consumerInfo(name string) (*jetstream.ConsumerInfo, error) {
	nc, err := nats.Connect(w.NATSURL)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	c, err := js.Consumer(context.Background(), w.Stream, name)
	if err != nil {
		return nil, err
	}
	return c.Info(context.Background())
}

// streamCount is how many changes of prefix the stream holds.
func (w *world) streamCount(prefix string) int {
	w.t.Helper()
	nc, err := nats.Connect(w.NATSURL)
	if err != nil {
		w.t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(context.Background(), w.Stream)
	if err != nil {
		w.t.Fatal(err)
	}
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(change.Filter(prefix)))
	if err != nil {
		w.t.Fatal(err)
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n
}

// waitIdle waits until the function's consumer has nothing pending or unacked.
// idle says why function name's consumer still has work (nil: none).
func (w *world) idle(name string) error {
	info, err := w.consumerInfo(name)
	if err != nil {
		return err
	}
	if info.NumPending != 0 || info.NumAckPending != 0 {
		return fmt.Errorf("consumer %s: %d pending, %d unacked", name, info.NumPending, info.NumAckPending)
	}
	return nil
}

func (w *world) waitIdle(name string, timeout time.Duration) {
	w.t.Helper()
	testenv.Eventually(w.t, timeout, func() error { return w.idle(name) })
}

const historySchema = "id BIGINT AUTO_INCREMENT PRIMARY KEY, person_id VARCHAR(255), jetsync_seq BIGINT UNSIGNED NOT NULL, jetsync_op VARCHAR(8), jetsync_seen DATETIME(6), age INT"

// TestExactlyOnceAcrossCrash: the function dies after its transaction
// committed and before its acks reached JetStream (its NATS connection is
// cut right after the commit). JetStream redelivers the committed changes to
// the next instance, which must not apply them again: in append mode a
// double apply would be a second row with the same jetsync_seq. The control
// runs the same crash without sequence guards and must see duplicates.
func TestExactlyOnceAcrossCrash(t *testing.T) {
	t.Parallel()
	for _, guarded := range []bool{true, false} {
		t.Run(map[bool]string{true: "guarded", false: "control without guards"}[guarded], func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			ctx := context.Background()
			prefix := w.Prefix("person")
			table := w.Table("history", historySchema)
			w.StartBridge(prefix)
			for i := range 400 {
				w.Redis.HSet(ctx, fmt.Sprintf("%s:%d", prefix, i%40), "age", strconv.Itoa(i))
			}
			testenv.Eventually(t, 10*time.Second, func() error {
				if w.Redis.HGet(ctx, prefix+":39", "age").Val() != "399" {
					return errors.New("writes not done")
				}
				return nil
			})
			time.Sleep(300 * time.Millisecond) // let the bridge publish the tail

			proxy := testenv.NewProxy(t, strings.TrimPrefix(w.NATSURL, "nats://"))
			cfg := w.tableConfig(testenv.Name("history"), prefix, table, "person_id", "age:age", testenv.MySQLAddr())
			cfg.Mode, cfg.BatchSize, cfg.AckWait = "append", 25, 2*time.Second
			crashed := make(chan struct{})
			first := cfg
			first.NATS.URL = "nats://" + proxy.Addr
			runCtx, kill := context.WithCancel(ctx)
			var commits atomic.Int32
			done := make(chan error, 1)
			go func() {
				done <- w.runTable(runCtx, first, w.Logger(), func(s handlers.Sink) handlers.Sink {
					return &hookedSink{Sink: s, strip: !guarded, after: func() {
						if commits.Add(1) == 3 {
							proxy.Cut() // the acks of this batch never arrive
							kill()
							close(crashed)
						}
					}}
				})
			}()
			select {
			case <-crashed:
			case <-time.After(20 * time.Second):
				t.Fatal("the first instance did not commit 3 batches")
			}
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Fatal(err)
			}
			committed := w.Count(table)
			info, err := w.consumerInfo(cfg.Name)
			if err != nil {
				t.Fatal(err)
			}
			if committed == 0 || info.NumAckPending == 0 {
				t.Fatalf("no committed-but-unacked changes to redeliver: %d rows, %d unacked", committed, info.NumAckPending)
			}

			second := w.Start("second", func(ctx context.Context) error {
				return w.runTable(ctx, cfg, w.Logger(), func(s handlers.Sink) handlers.Sink { return &hookedSink{Sink: s, strip: !guarded} })
			})
			w.waitIdle(cfg.Name, 30*time.Second)
			second()

			changes := w.streamCount(prefix)
			var rows, distinct int
			if err := w.DB.QueryRow("SELECT COUNT(*), COUNT(DISTINCT jetsync_seq) FROM "+table).Scan(&rows, &distinct); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d changes in the stream, %d rows committed before the crash, %d rows, %d distinct sequences", changes, committed, rows, distinct)
			if distinct != changes {
				t.Fatalf("%d distinct sequences in the history, want every one of the %d changes", distinct, changes)
			}
			if guarded && rows != changes {
				t.Fatalf("%d rows for %d changes: applied twice", rows, changes)
			}
			if !guarded && rows == changes {
				t.Fatalf("control: %d rows for %d changes; without guards the crash should have doubled some", rows, changes)
			}
		})
	}
}

// TestParallelInstancesKeepNewest: two instances of one function share its
// consumer; one of them commits late. Hot keys change all the time, yet no
// older change overwrites a newer one: the table ends equal to Redis.
func TestParallelInstancesKeepNewest(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	prefix, table := w.Prefix("person"), w.personsTable()
	w.StartBridge(prefix)
	cfg := w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "age:age", testenv.MySQLAddr())
	cfg.BatchSize = 20
	var stale atomic.Int64
	w.Start("fast", func(ctx context.Context) error {
		return w.runTable(ctx, cfg, w.Logger(), func(s handlers.Sink) handlers.Sink { return countStale(s, &stale, nil) })
	})
	w.Start("slow", func(ctx context.Context) error {
		return w.runTable(ctx, cfg, w.Logger(), func(s handlers.Sink) handlers.Sink {
			return countStale(s, &stale, func() { time.Sleep(30 * time.Millisecond) })
		})
	})

	want := map[string]int{}
	for i := range 3000 {
		id := strconv.Itoa(i % 10)
		w.Redis.HSet(ctx, prefix+":"+id, "age", strconv.Itoa(i))
		want[id] = i
		if i%100 == 0 {
			time.Sleep(5 * time.Millisecond) // keep changes flowing while batches interleave
		}
	}
	w.waitRows(table, want, 60*time.Second)
	w.waitIdle(cfg.Name, 30*time.Second)
	w.waitRows(table, want, time.Second)
	t.Logf("stale changes refused: %d", stale.Load())
}

type staleCounter struct {
	handlers.Sink
	n      *atomic.Int64
	before func()
}

func countStale(s handlers.Sink, n *atomic.Int64, before func()) handlers.Sink {
	return &staleCounter{Sink: s, n: n, before: before}
}

func (s *staleCounter) Write(ctx context.Context, w handlers.Write) error {
	if s.before != nil {
		s.before()
	}
	err := s.Sink.Write(ctx, w)
	var se *handlers.StaleError
	if errors.As(err, &se) {
		s.n.Add(int64(len(se.Stale)))
	}
	return err
}

// TestCredentialRotation: the MariaDB password is rotated, the file too, and
// the connections broken; the function carries on without a restart, and no
// password ever reaches its log. The control reads the password file once,
// when the sink opens (mysql.WithPasswordReadOnce): after the rotation the
// function must keep failing to log in, its change unwritten.
func TestCredentialRotation(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "file read at every connect", "file read once", func(t *testing.T, control bool) {
		credentialRotation(t, control)
	})
}

func credentialRotation(t *testing.T, control bool) {
	w := newWorld(t)
	ctx := context.Background()
	prefix, table := w.Prefix("person"), w.personsTable()
	user := testenv.Name("rot")
	const oldPW, newPW = "Old-Secret-4711", "New-Secret-0815"
	testenv.Exec(t, w.DB, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", user, oldPW))
	t.Cleanup(func() { w.DB.Exec(fmt.Sprintf("DROP USER '%s'@'%%'", user)) })
	w.Count(table) // the table exists before the grants
	mysql.Open(ctx, w.MySQLConfig(testenv.MySQLAddr()), w.Logger())
	for _, name := range []string{table, "jetsync_applied", "jetsync_checkpoints"} {
		testenv.Exec(t, w.DB, fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON test.%s TO '%s'@'%%'", name, user))
	}
	pwFile := t.TempDir() + "/mysql-password"
	writeFile(t, pwFile, oldPW)

	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w.StartBridge(prefix)
	cfg := w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "age:age", testenv.MySQLAddr())
	cfg.MySQL.User, cfg.MySQL.PasswordFile = user, pwFile
	cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	if control {
		mysql.WithPasswordReadOnce(&cfg.MySQL)
	}
	w.Start("function", func(ctx context.Context) error { return Run(ctx, cfg, log) })

	w.Redis.HSet(ctx, prefix+":1", "age", "1")
	w.waitRows(table, map[string]int{"1": 1}, 10*time.Second)

	// Rotate in the database first: until the file follows, new
	// connections fail (and are logged) but nothing is lost.
	testenv.Exec(t, w.DB, fmt.Sprintf("ALTER USER '%s'@'%%' IDENTIFIED BY '%s'", user, newPW))
	testenv.KillConnections(t, w.DB, user)
	w.Redis.HSet(ctx, prefix+":2", "age", "2")
	testenv.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(logs.String(), "Access denied") {
			return errors.New("no failed login logged yet")
		}
		return nil
	})
	writeFile(t, pwFile, newPW)
	if control {
		// Failed writes go on after the file holds the new password (two,
		// in case one was under way with the old one as it was written).
		failed := func() float64 {
			_, body := testenv.HTTPGet("http://" + cfg.HTTPAddr + "/metrics")
			return testenv.MetricValue(body, `jetsync_function_write_errors_total{class="transient",function="`+cfg.Name+`"}`)
		}
		before := failed()
		if before < 1 {
			t.Fatalf("control: %v transient write errors counted before the rotation, want the failed logins", before)
		}
		testenv.Eventually(t, 30*time.Second, func() error {
			if n := failed() - before; n < 2 {
				return fmt.Errorf("control: %v failed writes since the file was rotated, want 2 or more", n)
			}
			return nil
		})
		if n := w.Count(table); n != 1 {
			t.Fatalf("control: %d rows; the function logged in after the rotation although it read the password file once", n)
		}
	} else {
		w.waitRows(table, map[string]int{"1": 1, "2": 2}, 30*time.Second)
	}

	for _, pw := range []string{oldPW, newPW} {
		if strings.Contains(logs.String(), pw) {
			t.Fatalf("the log shows a password:\n%s", logs.String())
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStreamCreatedAgain: the stream is deleted and created again (a fresh
// NATS store), so its sequences restart below the function's checkpoint in
// the database; the function must forget its old guards, not refuse every
// new change as stale.
func TestStreamCreatedAgain(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	prefix, table := w.Prefix("person"), w.personsTable()
	cfg := w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "age:age", testenv.MySQLAddr())
	stopBridge := w.StartBridge(prefix)
	stopFn := w.startFunction(cfg)
	// Many changes, then most keys deleted: the old stream ends far above
	// what the new one will hold.
	for i := range 300 {
		w.Redis.HSet(ctx, fmt.Sprintf("%s:%d", prefix, i), "age", strconv.Itoa(i))
	}
	w.waitRows(table, func() map[string]int {
		m := map[string]int{}
		for i := range 300 {
			m[strconv.Itoa(i)] = i
		}
		return m
	}(), 15*time.Second)
	for i := 1; i < 300; i++ {
		w.Redis.Del(ctx, fmt.Sprintf("%s:%d", prefix, i))
	}
	w.Redis.HSet(ctx, prefix+":0", "age", "5") // key 0's guard: the old stream's last sequence
	w.waitRows(table, map[string]int{"0": 5}, 15*time.Second)
	w.waitIdle(cfg.Name, 15*time.Second)
	stopFn()
	stopBridge()

	// A new NATS server: the same stream name, sequences from 1 again.
	w.NATSURL = testenv.NATS(t)
	cfg.NATS.URL = w.NATSURL
	w.StartBridge(prefix)
	w.startFunction(cfg)
	w.Redis.HSet(ctx, prefix+":0", "age", "100")
	testenv.Eventually(t, 15*time.Second, func() error {
		p, ok, err := w.person(table, "0")
		if err != nil || !ok || p.age.Int64 != 100 {
			return fmt.Errorf("row 0: %+v (present %v, err %v); want age 100", p, ok, err)
		}
		return nil
	})
}
