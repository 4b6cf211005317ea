package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/bridge/streams"
	"github.com/jetsync/jetsync/connectors/mysql"
	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/platform"
	"github.com/jetsync/jetsync/infra/testenv"
)

// rig is a stream on an embedded NATS server, a table in MariaDB, and a
// runner of a one-table function between them.
type rig struct {
	t      *testing.T
	js     jetstream.JetStream
	cfg    handlers.Config
	table  string
	prefix string
	// hook, when set, is applied to each runner before it runs.
	hook func(*handlers.Runner)
	// mysqlAddr, when set, is where runners reach MariaDB (a proxy).
	mysqlAddr string
	// fn, when set, replaces function() in the runners started.
	fn handlers.Function
	// runner is the last runner started.
	runner *handlers.Runner
}

func newRig(t *testing.T) *rig {
	t.Helper()
	url := testenv.NATS(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	stream := testenv.Name("JETSYNC")
	if _, err := streams.EnsureStream(context.Background(), js, streams.StreamConfig{Name: stream, MaxBytes: -1, Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	db := testenv.MySQL(t)
	table := testenv.Name("people")
	testenv.Exec(t, db, fmt.Sprintf("CREATE TABLE %s (id VARCHAR(64) PRIMARY KEY, name VARCHAR(8), age INT)", table))
	t.Cleanup(func() { db.Exec("DROP TABLE " + table) })
	return &rig{
		t: t, js: js, table: table, prefix: "p",
		cfg: handlers.Config{
			Name: testenv.Name("people"), Version: "1", Prefix: "p", Stream: stream,
			NATS:      platform.NATSConfig{URL: url},
			LogConfig: platform.LogConfig{Format: "text", Level: "info"},
			BatchSize: 500, BatchWait: 20 * time.Millisecond, AckWait: 5 * time.Second,
			RetryMax: 200 * time.Millisecond, ShutdownGrace: 5 * time.Second,
		},
	}
}

// function maps fields name and age to the rig's table.
func (r *rig) function() handlers.Function {
	m, _ := handlers.ParseMapping("name,age")
	return handlers.FunctionFunc(func(_ context.Context, b *handlers.Batch) error {
		for _, c := range b.Changes {
			key := []handlers.Column{{Name: "id", Value: c.ID}}
			if c.Op == change.Delete {
				b.Delete(r.table, key)
			} else {
				b.Upsert(r.table, key, m.Values(c.Fields))
			}
		}
		return nil
	})
}

// start runs cfg's runner until the test ends; it returns Run's result channel.
func (r *rig) start(cfg handlers.Config) <-chan error {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := testenv.MySQLAddr()
	if r.mysqlAddr != "" {
		addr = r.mysqlAddr
	}
	sink, err := mysql.Open(ctx, mysql.Config{Addr: addr, User: "root", Database: "test", TLS: "false", MaxConns: 2, Timeout: 2 * time.Second}, testenv.Logger(r.t))
	if err != nil {
		r.t.Fatal(err)
	}
	fn := r.fn
	if fn == nil {
		fn = r.function()
	}
	runner, err := handlers.New(cfg, fn, sink, testenv.Logger(r.t))
	if err != nil {
		r.t.Fatal(err)
	}
	if r.hook != nil {
		r.hook(runner)
	}
	r.runner = runner
	done, finished := make(chan error, 1), make(chan struct{})
	go func() {
		done <- runner.Run(ctx)
		close(finished)
	}()
	r.t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			r.t.Error("runner did not stop in 10s")
		}
	})
	return done
}

func (r *rig) publish(id string, fields map[string]string) {
	r.t.Helper()
	c, err := change.New(r.prefix+":"+id, change.Upsert, fields, time.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	body, _ := c.Encode()
	r.publishRaw(change.Subject(r.prefix, id), body)
}

func (r *rig) publishRaw(subject string, body []byte) {
	r.t.Helper()
	if _, err := r.js.Publish(context.Background(), subject, body); err != nil {
		r.t.Fatal(err)
	}
}

// metric sums the series of the last runner's metric name whose labels
// include label (name="value").
func (r *rig) metric(name, label string) float64 {
	r.t.Helper()
	mfs, err := r.runner.Registry().Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()) == label {
					sum += m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return sum
}

func (r *rig) count() int {
	var n int
	if err := testenv.MySQL(r.t).QueryRow("SELECT COUNT(*) FROM " + r.table).Scan(&n); err != nil {
		r.t.Fatal(err)
	}
	return n
}

// deadLetters reads every message of the rig's dead-letter stream.
func (r *rig) deadLetters(want int) []*jetstream.RawStreamMsg {
	r.t.Helper()
	ctx := context.Background()
	var out []*jetstream.RawStreamMsg
	testenv.Eventually(r.t, 15*time.Second, func() error {
		s, err := r.js.Stream(ctx, streams.DeadLetterStream(r.cfg.Stream))
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if int(info.State.Msgs) != want {
			return fmt.Errorf("%d dead letters, want %d", info.State.Msgs, want)
		}
		out = out[:0]
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
			m, err := s.GetMsg(ctx, seq)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	return out
}

// TestMalformedGoesToDeadLetters: messages that are not changes are
// dead-lettered with their reason and the good ones keep flowing.
func TestMalformedGoesToDeadLetters(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.start(r.cfg)
	r.publish("1", map[string]string{"name": "a", "age": "1"})
	r.publishRaw("jetsync.p.2", []byte("{not json"))
	r.publishRaw("jetsync.p.3", []byte(`{"v":99,"key":"p:3","prefix":"p","id":"3","op":"upsert"}`))
	r.publishRaw("jetsync.p.4", []byte(`{"v":1,"key":"p:","prefix":"p","id":"","op":"upsert"}`))
	r.publishRaw("jetsync.p.5", []byte(`{"v":1,"key":"p:6","prefix":"p","id":"6","op":"upsert"}`))
	r.publish("7", map[string]string{"name": "b", "age": "7"})

	dls := r.deadLetters(4)
	wantReasons := []string{"malformed change", "unknown change format version", "change has no id", "does not match key"}
	for i, m := range dls {
		h := m.Header
		if !strings.Contains(h.Get(change.HeaderError), wantReasons[i]) {
			t.Errorf("dead letter %d: reason %q, want %q", i, h.Get(change.HeaderError), wantReasons[i])
		}
		if h.Get(change.HeaderFunction) != r.cfg.Name || h.Get(change.HeaderVersion) != "1" || h.Get(change.HeaderErrorClass) != "permanent" ||
			h.Get(change.HeaderSubject) == "" || h.Get(change.HeaderStreamSeq) == "" || h.Get(change.HeaderDelivered) != "1" || h.Get(change.HeaderTime) == "" {
			t.Errorf("dead letter %d: headers %v", i, h)
		}
		if !strings.HasPrefix(m.Subject, streams.DeadLetterRoot+"."+r.cfg.Name+".p.") {
			t.Errorf("dead letter %d: subject %q", i, m.Subject)
		}
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if n := r.count(); n != 2 {
			return fmt.Errorf("%d rows, want 2", n)
		}
		return nil
	})
}

// TestPermanentErrorIsIsolated: one change the database refuses (a value too
// long for its column) among 10,000 good ones is dead-lettered with its
// reason; the 10,000 land.
func TestPermanentErrorIsIsolated(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "isolated", "whole batch", func(t *testing.T, control bool) {
		r := newRig(t)
		n, bad := 10001, 4370
		if control {
			n, bad = 201, 70 // enough to show the batch going with it
			r.hook = handlers.WithoutIsolation
		}
		var futures []jetstream.PubAckFuture
		for i := range n {
			name := "ok"
			if i == bad {
				name = "far too long for VARCHAR(8)"
			}
			c, _ := change.New(fmt.Sprintf("p:%d", i), change.Upsert, map[string]string{"name": name, "age": fmt.Sprint(i)}, time.Now())
			body, _ := c.Encode()
			f, err := r.js.PublishAsync(change.Subject("p", c.ID), body, jetstream.WithStallWait(30*time.Second)) // a loaded machine acks slowly
			if err != nil {
				t.Fatal(err)
			}
			futures = append(futures, f)
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				t.Fatal(err)
			}
		}
		r.start(r.cfg) // everything is waiting: the first batch is full
		if control {
			testenv.Eventually(t, 30*time.Second, func() error {
				if got := r.metric("jetsync_function_changes_total", `result="dead_lettered"`); got < 2 {
					return fmt.Errorf("%v dead letters", got)
				}
				return nil
			})
			if got := r.count(); got >= n-1 {
				t.Fatalf("control: %d rows; without isolation the good changes of the batch should have gone with the bad one", got)
			}
			return
		}
		dls := r.deadLetters(1)
		if got := dls[0].Header.Get(change.HeaderError); !strings.Contains(got, "Data too long") {
			t.Fatalf("reason %q, want the database's 'Data too long'", got)
		}
		if !strings.HasSuffix(dls[0].Subject, fmt.Sprintf(".p.%d", bad)) {
			t.Fatalf("dead letter subject %q, want the change of p:%d", dls[0].Subject, bad)
		}
		testenv.Eventually(t, 30*time.Second, func() error {
			if got := r.count(); got != n-1 {
				return fmt.Errorf("%d rows, want %d", got, n-1)
			}
			return nil
		})
	})
}

// TestVersionedRegistration: a newer version takes over the consumer; an
// older one refuses to start with a clear error and leaves the consumer as
// the newer one set it. The control registers without looking at the
// version: the older version must take the consumer over, its version and
// settings replacing the newer one's.
func TestVersionedRegistration(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "refused", "no version check", func(t *testing.T, control bool) {
		r := newRig(t)
		consumer := func() (jetstream.ConsumerConfig, error) {
			c, err := r.js.Consumer(context.Background(), r.cfg.Stream, r.cfg.Name)
			if err != nil {
				return jetstream.ConsumerConfig{}, err
			}
			return c.CachedInfo().Config, nil
		}
		v2 := r.cfg
		v2.Version = "2"
		r.start(v2)
		r.publish("1", map[string]string{"name": "a"})
		testenv.Eventually(t, 10*time.Second, func() error {
			if r.count() != 1 {
				return errors.New("no row yet")
			}
			return nil
		})

		same := r.cfg
		same.Version, same.AckWait = "2", 7*time.Second
		r.start(same) // the same version just runs, and updates the settings
		testenv.Eventually(t, 10*time.Second, func() error {
			c, err := consumer()
			if err != nil {
				return err
			}
			if c.AckWait != 7*time.Second {
				return fmt.Errorf("ack wait %s, want 7s", c.AckWait)
			}
			return nil
		})
		r.publish("2", map[string]string{"name": "b"})
		testenv.Eventually(t, 10*time.Second, func() error {
			if r.count() != 2 {
				return errors.New("second row not written")
			}
			return nil
		})

		v1 := r.cfg
		v1.AckWait = 9 * time.Second
		if control {
			r.hook = handlers.WithoutVersionCheck
		}
		done := r.start(v1)
		if control {
			testenv.Eventually(t, 10*time.Second, func() error {
				select {
				case err := <-done:
					t.Fatalf("control: version 1 stopped (%v) instead of taking the consumer over", err)
				default:
				}
				c, err := consumer()
				if err != nil {
					return err
				}
				if v := c.Metadata["jetsync_version"]; v != "1" || c.AckWait != 9*time.Second {
					return fmt.Errorf("control: consumer version %q, ack wait %s; the older version (1, 9s) did not take it over", v, c.AckWait)
				}
				return nil
			})
			return
		}
		select {
		case err := <-done:
			if !errors.Is(err, handlers.ErrOlderVersion) || !strings.Contains(err.Error(), "version 1 refuses to start because version 2") {
				t.Fatalf("version 1: %v, want ErrOlderVersion naming both versions", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("version 1 did not refuse to start")
		}
		if c, err := consumer(); err != nil || c.Metadata["jetsync_version"] != "2" || c.AckWait != 7*time.Second {
			t.Fatalf("after version 1 refused: consumer version %q, ack wait %s (%v); want 2 and 7s", c.Metadata["jetsync_version"], c.AckWait, err)
		}

		v3 := r.cfg
		v3.Version = "2.1"
		r.start(v3)
		testenv.Eventually(t, 10*time.Second, func() error {
			c, err := consumer()
			if err != nil {
				return err
			}
			if v := c.Metadata["jetsync_version"]; v != "2.1" {
				return fmt.Errorf("consumer version %q, want 2.1", v)
			}
			return nil
		})
	})
}

// TestRunningOlderVersionStops: when a newer version takes a function's
// consumer over, a running instance of the older version finishes its batch
// and stops (Run returns ErrOlderVersion naming both versions); the newer
// one applies every later change. Control, without the version check: the
// older instance keeps applying changes beside the newer one.
func TestRunningOlderVersionStops(t *testing.T) {
	t.Parallel()
	testenv.WithControl(t, "stops", "no version check", func(t *testing.T, control bool) {
		r := newRig(t)
		if control {
			r.hook = handlers.WithoutVersionCheck
		}
		var olderApplied atomic.Int64
		fn := r.function()
		r.fn = handlers.FunctionFunc(func(ctx context.Context, b *handlers.Batch) error {
			olderApplied.Add(int64(len(b.Changes)))
			return fn.Handle(ctx, b)
		})
		older := r.start(r.cfg) // version 1
		r.publish("0", map[string]string{"name": "a"})
		testenv.Eventually(t, 10*time.Second, func() error {
			if r.count() != 1 {
				return errors.New("no row yet")
			}
			return nil
		})
		r.fn = nil
		v2 := r.cfg
		v2.Version = "2"
		r.start(v2)
		if control {
			select {
			case err := <-older:
				t.Fatalf("control: version 1 stopped (%v) without the version check", err)
			case <-time.After(8 * time.Second): // four consumer polls
			}
		} else {
			select {
			case err := <-older:
				if !errors.Is(err, handlers.ErrOlderVersion) || !strings.Contains(err.Error(), "version 1 stops because version 2 has taken over") {
					t.Fatalf("version 1: %v, want ErrOlderVersion naming both versions", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("version 1 still runs 20s after version 2 took its consumer over")
			}
		}
		before := olderApplied.Load()
		for i := 1; i <= 100; i++ {
			r.publish(fmt.Sprint(i), map[string]string{"name": "b"})
			time.Sleep(10 * time.Millisecond)
		}
		testenv.Eventually(t, 20*time.Second, func() error {
			if n := r.count(); n != 101 {
				return fmt.Errorf("%d of 101 rows", n)
			}
			return nil
		})
		applied := olderApplied.Load() - before
		switch {
		case !control && applied != 0:
			t.Fatalf("version 1 applied %d changes after version 2 took over", applied)
		case control && applied == 0:
			t.Fatal("control: version 1 applied none of 100 changes beside version 2; the test cannot see an older version writing on")
		case control:
			t.Logf("control: version 1 applied %d of 100 changes after version 2 took over", applied)
		}
	})
}
