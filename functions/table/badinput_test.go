package table

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/jetsync/jetsync/bridge"
	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/bridge/streams"
	"github.com/jetsync/jetsync/infra/testenv"
)

// deadLetter waits for the last dead letter stored on subject and returns it.
func (w *world) deadLetter(js jetstream.JetStream, subject string, timeout time.Duration) *jetstream.RawStreamMsg {
	w.t.Helper()
	var msg *jetstream.RawStreamMsg
	testenv.Eventually(w.t, timeout, func() error {
		s, err := js.Stream(context.Background(), streams.DeadLetterStream(w.Stream))
		if err != nil {
			return err
		}
		msg, err = s.GetLastMsgForSubject(context.Background(), subject)
		if err != nil {
			return fmt.Errorf("no dead letter on %s: %w", subject, err)
		}
		return nil
	})
	return msg
}

// TestBadInput feeds one pipeline everything that must not stop it: keys
// and values the bridge cannot carry, values the database refuses, and
// messages that are not changes. Each one is either carried correctly or
// dead-lettered with a reason that names the problem, and a good change
// written after all of them still lands.
func TestBadInput(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	prefix := w.Prefix("person")
	table := w.Table("persons", "person_id VARBINARY(768) PRIMARY KEY, first VARCHAR(16), last VARCHAR(255), age INT, note VARCHAR(255)")
	// Its own redis-server, with exactly the notification classes the
	// bridge sets itself (a shared server may have more enabled).
	w.Redis = redis.NewClient(&redis.Options{Addr: testenv.RedisServer(t)})
	t.Cleanup(func() { w.Redis.Close() })
	bcfg := w.BridgeConfig(prefix)
	bcfg.Redis.Addr = w.Redis.Options().Addr
	b, err := bridge.New(ctx, bcfg, w.Logger().With("component", "bridge"))
	if err != nil {
		t.Fatal(err)
	}
	w.Start("bridge", b.Run)
	cfg := w.tableConfig(testenv.Name("persons"), prefix, table, "person_id", "first_name:first,age:age", testenv.MySQLAddr())
	w.startFunction(cfg)

	nc, err := nats.Connect(w.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	bridgeDL := func(id string) string {
		s := streams.DeadLetterRoot + ".bridge." + prefix
		if id != "" {
			s += "." + change.IDToken(id)
		}
		return s
	}
	functionDL := func(token string) string {
		return streams.DeadLetterRoot + "." + cfg.Name + "." + prefix + "." + token
	}
	// expect checks a dead letter's headers: permanent, and a reason that
	// says what is wrong.
	expect := func(t *testing.T, subject string, reason ...string) *jetstream.RawStreamMsg {
		t.Helper()
		m := w.deadLetter(js, subject, 15*time.Second)
		if c := m.Header.Get(change.HeaderErrorClass); c != "permanent" {
			t.Errorf("Jetsync-Error-Class %q, want permanent", c)
		}
		got := m.Header.Get(change.HeaderError)
		for _, r := range reason {
			if !strings.Contains(got, r) {
				t.Errorf("Jetsync-Error %q does not say %q", got, r)
			}
		}
		return m
	}
	noRow := func(t *testing.T, id string) {
		t.Helper()
		if _, ok, err := w.person(table, id); err != nil || ok {
			t.Errorf("row %q exists (err %v); a refused change must not be written", id, err)
		}
	}
	hset := func(t *testing.T, key string, values ...any) {
		t.Helper()
		if err := w.Redis.HSet(ctx, key, values...).Err(); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("key with no id", func(t *testing.T) {
		hset(t, prefix+":", "first_name", "Nobody")
		m := expect(t, bridgeDL(""), "has no id", prefix+":")
		if k := m.Header.Get(change.HeaderKey); k != prefix+":" {
			t.Errorf("Jetsync-Key %q, want %q", k, prefix+":")
		}
	})

	t.Run("ids that are not subject tokens", func(t *testing.T) {
		ids := []string{"a.b", "a*b", "a>b", "a b", " ", "zażółć ✓", "日本", "x:y:z", "~tilde", ">"}
		want := map[string]int{}
		for i, id := range ids {
			hset(t, prefix+":"+id, "first_name", "Odd", "age", strconv.Itoa(i))
			want[id] = i
		}
		w.waitRows(table, want, 15*time.Second)
		for _, id := range ids {
			w.Redis.Del(ctx, prefix+":"+id)
		}
		w.waitRows(table, map[string]int{}, 15*time.Second)
	})

	t.Run("invalid UTF-8 in the id", func(t *testing.T) {
		// JSON would turn the byte into U+FFFD: the bridge refuses the key.
		hset(t, prefix+":\xffid", "first_name", "Bad")
		expect(t, bridgeDL("\xffid"), "is not valid UTF-8")
		noRow(t, "\xffid")
	})

	t.Run("long ids", func(t *testing.T) {
		fits, tooLong := strings.Repeat("a", 700), strings.Repeat("b", 1000)
		hset(t, prefix+":"+fits, "first_name", "Long", "age", "700")
		hset(t, prefix+":"+tooLong, "first_name", "Longer", "age", "1000")
		expect(t, functionDL(tooLong), "Data too long", "person_id")
		w.waitRows(table, map[string]int{fits: 700}, 15*time.Second)
		w.Redis.Del(ctx, prefix+":"+fits)
		w.waitRows(table, map[string]int{}, 15*time.Second)
	})

	t.Run("value too long for its column", func(t *testing.T) {
		hset(t, prefix+":long", "first_name", strings.Repeat("x", 17), "age", "1")
		expect(t, functionDL("long"), "Data too long", "first")
		noRow(t, "long")
	})

	t.Run("text in an INT column", func(t *testing.T) {
		hset(t, prefix+":text", "first_name", "Ann", "age", "old")
		expect(t, functionDL("text"), "Incorrect integer value", "age")
		noRow(t, "text")
	})

	t.Run("invalid UTF-8 value", func(t *testing.T) {
		hset(t, prefix+":bin", "first_name", "\xff\xfe")
		expect(t, bridgeDL("bin"), "not valid UTF-8", "first_name")
		noRow(t, "bin")
	})

	t.Run("invalid UTF-8 field name", func(t *testing.T) {
		hset(t, prefix+":binfield", "\xff", "x", "first_name", "Ann")
		expect(t, bridgeDL("binfield"), "field name that is not valid UTF-8")
		noRow(t, "binfield")
	})

	t.Run("10 MiB hash", func(t *testing.T) {
		hset(t, prefix+":huge", "first_name", "Big", "blob", strings.Repeat("y", 10<<20))
		expect(t, bridgeDL("huge"), "max_payload")
		noRow(t, "huge")
		// The key the bridge refused is deleted by the test's cleanup; free
		// Redis now.
		w.Redis.Unlink(ctx, prefix+":huge")
	})

	t.Run("hash with 10,000 fields", func(t *testing.T) {
		values := []any{"first_name", "Wide", "age", "42"}
		for i := range 10000 {
			values = append(values, "f"+strconv.Itoa(i), "v"+strconv.Itoa(i))
		}
		hset(t, prefix+":wide", values...)
		testenv.Eventually(t, 15*time.Second, func() error {
			p, ok, err := w.person(table, "wide")
			if err != nil || !ok || p.first.String != "Wide" || p.age.Int64 != 42 {
				return fmt.Errorf("row %+v (present %v, err %v)", p, ok, err)
			}
			return nil
		})
	})

	t.Run("key of the wrong type", func(t *testing.T) {
		// Keys the bridge is told about (a generic event: RENAME, COPY,
		// RESTORE, DEL and re-create) are read and refused.
		for kind, write := range map[string]func(string) error{
			"string": func(k string) error { return w.Redis.Set(ctx, k, "x", 0).Err() },
			"list":   func(k string) error { return w.Redis.RPush(ctx, k, "x").Err() },
			"zset":   func(k string) error { return w.Redis.ZAdd(ctx, k, redis.Z{Score: 1, Member: "x"}).Err() },
		} {
			tmp := "tmp-" + prefix + "-" + kind
			if err := write(tmp); err != nil {
				t.Fatal(err)
			}
			if err := w.Redis.Rename(ctx, tmp, prefix+":"+kind).Err(); err != nil {
				t.Fatal(err)
			}
			expect(t, bridgeDL(kind), "holds a "+kind+", not a hash")
			noRow(t, kind)
		}
		// Written in place with its own command (SET, SADD, ...): the bridge
		// listens to those classes too, so the key is seen and refused.
		w.Redis.Set(ctx, prefix+":direct", "x", 0)
		w.Redis.SAdd(ctx, prefix+":directset", "x")
		expect(t, bridgeDL("direct"), "holds a string, not a hash")
		expect(t, bridgeDL("directset"), "holds a set, not a hash")
		noRow(t, "direct")
		noRow(t, "directset")
	})

	publish := func(t *testing.T, token string, body []byte) {
		t.Helper()
		if _, err := js.Publish(ctx, change.Root+"."+prefix+"."+token, body); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("message that is not JSON", func(t *testing.T) {
		publish(t, "notjson", []byte("{not json"))
		m := expect(t, functionDL("notjson"), "malformed change")
		if string(m.Data) != "{not json" {
			t.Errorf("dead letter body %q, want the original message", m.Data)
		}
	})

	t.Run("message of an unknown format version", func(t *testing.T) {
		publish(t, "v2", []byte(`{"v":2,"key":"`+prefix+`:v2","prefix":"`+prefix+`","id":"v2","op":"upsert","fields":{"age":"2"}}`))
		expect(t, functionDL("v2"), "unknown change format version", "v=2")
		noRow(t, "v2")
	})

	t.Run("a good change still lands", func(t *testing.T) {
		hset(t, prefix+":good", "first_name", "Good", "age", "7")
		w.waitRows(table, map[string]int{"wide": 42, "good": 7}, 15*time.Second)
		w.waitIdle(cfg.Name, 15*time.Second)
	})

	// Nothing but the cases above reached the dead letters (a key the
	// bridge reads twice, e.g. at its event and its start's resync, may be
	// filed twice: count subjects).
	s, err := js.Stream(ctx, streams.DeadLetterStream(w.Stream))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(">"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{bridgeDL(""): true, functionDL(strings.Repeat("b", 1000)): true, bridgeDL("\xffid"): true, functionDL("long"): true, functionDL("text"): true,
		bridgeDL("direct"): true, bridgeDL("directset"): true,
		bridgeDL("bin"): true, bridgeDL("binfield"): true, bridgeDL("huge"): true, bridgeDL("string"): true,
		bridgeDL("list"): true, bridgeDL("zset"): true, functionDL("notjson"): true, functionDL("v2"): true}
	for subject, n := range info.State.Subjects {
		switch {
		case want[subject]:
			delete(want, subject)
		default:
			t.Errorf("unexpected dead letter(s) on %s: %d", subject, n)
		}
	}
	for subject := range want {
		t.Errorf("no dead letter on %s", subject)
	}
	t.Logf("dead letters: %d on %d subjects", info.State.Msgs, len(info.State.Subjects))

	// An id whose subject would be longer than NATS's control line (4 KiB)
	// is refused by the bridge (a dead letter without the id in its subject)
	// and every key written after it still lands.
	hset(t, prefix+":"+strings.Repeat("c", 5000), "first_name", "Huge")
	after := map[string]int{}
	for i := range 20 {
		id := "after-long-" + strconv.Itoa(i)
		hset(t, prefix+":"+id, "first_name", "After", "age", strconv.Itoa(i))
		after[id] = i
	}
	testenv.Eventually(t, 15*time.Second, func() error {
		s, err := js.Stream(ctx, streams.DeadLetterStream(w.Stream))
		if err != nil {
			return err
		}
		m, err := s.GetLastMsgForSubject(ctx, bridgeDL(""))
		if err != nil {
			return err
		}
		if got := m.Header.Get(change.HeaderError); !strings.Contains(got, "is too long") {
			return fmt.Errorf("last bridge dead letter without an id: %q, want the 5,000-byte id", got)
		}
		for id := range after {
			if _, ok, err := w.person(table, id); err != nil || !ok {
				return fmt.Errorf("row %s not written (err %v)", id, err)
			}
		}
		return nil
	})
}
