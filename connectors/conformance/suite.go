package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetsync/jetsync/handlers"
	"github.com/jetsync/jetsync/infra/testenv"
)

// Run runs every conformance test against h as subtests of t, in parallel.
func Run(t *testing.T, h Harness) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"Lifecycle", testLifecycle},
		{"SameKeyInOneWrite", testSameKey},
		{"Redelivery", guardTest(testRedelivery)},
		{"ExactlyOnce", guardTest(testExactlyOnce)},
		{"ConcurrentInstances", guardTest(testConcurrentInstances)},
		{"ConcurrentInstancesControl", testConcurrentControl},
		{"Append", testAppend},
		{"ErrorClasses", testErrorClasses},
		{"Outage", testOutage},
		{"QuotedIdentifiers", testIdentifiers},
		{"UnicodeAndLargeValues", testUnicode},
		{"TenThousandOps", testTenThousand},
		{"Truncate", testTruncate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, h)
		})
	}
}

// guardTest runs a test of the guards under each of h.Isolations (as
// subtests), or once with h.Open.
func guardTest(fn func(t *testing.T, h Harness)) func(t *testing.T, h Harness) {
	return func(t *testing.T, h Harness) {
		if len(h.Isolations) == 0 {
			fn(t, h)
			return
		}
		for _, iso := range h.Isolations {
			t.Run(iso, func(t *testing.T) {
				t.Parallel()
				hi := h
				hi.Open = func(t *testing.T, addr string) handlers.Sink {
					if addr != "" {
						t.Fatalf("a guard test under %s asked for a sink through %s", iso, addr)
					}
					return h.OpenIsolated(t, iso)
				}
				fn(t, hi)
			})
		}
	}
}

// testConcurrentInstances: see staleAfterConcurrentWrites, which must find
// no stale row.
func testConcurrentInstances(t *testing.T, h Harness) {
	if !h.Caps.Guards && !h.Caps.RowGuards {
		t.Skip("the target does not guard sequences")
	}
	if stale, total := staleAfterConcurrentWrites(t, h, false); stale > 0 {
		t.Fatalf("%d of %d rows hold the older change after concurrent writes of two instances", stale, total)
	}
}

// testConcurrentControl runs ConcurrentInstances with the guard that reads
// the applied orders without claiming the keys (Harness.SlowGuard), under
// READ COMMITTED when the target has isolation levels: it must see rows
// with the older change, or ConcurrentInstances could not tell that the
// claim works.
func testConcurrentControl(t *testing.T, h Harness) {
	if h.SlowGuard == nil {
		t.Skip("the target has no slow-guard hook (Harness.SlowGuard)")
	}
	if len(h.Isolations) > 0 {
		h.Open = func(t *testing.T, _ string) handlers.Sink { return h.OpenIsolated(t, "read-committed") }
	}
	if stale, total := staleAfterConcurrentWrites(t, h, true); stale == 0 {
		t.Fatalf("control: 0 of %d rows hold the older change with the unclaimed guard; ConcurrentInstances cannot tell that the claim works", total)
	}
}

// staleAfterConcurrentWrites has two instances of one function (two sinks
// from h.Open) write changes of the same new keys at the same moment: one a
// large write of older changes, the other a small write of newer changes of
// some of those keys, in the opposite order. Whichever transaction reaches
// the rows first, every row must end with the newer change. It returns how
// many rows hold the older one, of how many written twice. With
// h.SlowGuard, both instances pause between their guard and their rows,
// which widens the race, and with unlocked they read the applied orders
// without claiming the keys.
func staleAfterConcurrentWrites(t *testing.T, h Harness, unlocked bool) (stale, total int) {
	t.Helper()
	older := newWriter(t, h, "")
	newer := newWriter(t, h, "")
	if h.SlowGuard != nil {
		h.SlowGuard(older.s, 50*time.Millisecond, unlocked)
		h.SlowGuard(newer.s, 50*time.Millisecond, unlocked)
	}
	newer.fn = older.fn
	tb := h.CreateTable(t, people)
	const rounds, subset = 12, 20
	keys := h.Caps.scaled(1500)
	for r := range rounds {
		var oldOps, newOps []handlers.Op
		var oldCh, newCh []handlers.KeySeq
		base := uint64(r*10 + 1)
		for i := range keys {
			id := fmt.Sprintf("r%02d-%04d", r, i)
			oldOps = append(oldOps, up(tb, id, col("name", "old")))
			oldCh = append(oldCh, handlers.KeySeq{Key: "p:" + id, Seq: base})
			if i >= keys-subset {
				newOps = append([]handlers.Op{up(tb, id, col("name", "new"))}, newOps...)
				newCh = append([]handlers.KeySeq{{Key: "p:" + id, Seq: base + 1}}, newCh...)
			}
		}
		start := make(chan struct{})
		errs := make(chan error, 2)
		go func() { <-start; errs <- older.writeSeq(oldCh, oldOps...) }()
		go func() { <-start; errs <- newer.writeSeq(newCh, newOps...) }()
		close(start)
		for range 2 {
			var se *handlers.StaleError
			if err := <-errs; err != nil && !errors.As(err, &se) {
				t.Fatalf("round %d: %v", r, err)
			}
		}
	}
	for _, row := range rows(t, h, tb, people) {
		if isNewKey(row, keys-subset) && strings.Contains(row, "|old|") {
			stale++
		}
	}
	return stale, rounds * subset
}

// isNewKey reports whether a row's id (rNN-IIII) is at or past first.
func isNewKey(row string, first int) bool {
	id, _, _ := strings.Cut(row, "|")
	_, n, ok := strings.Cut(id, "-")
	var i int
	_, err := fmt.Sscanf(n, "%d", &i)
	return ok && err == nil && i >= first
}

// people is the table most tests use.
var people = Table{
	Base: "people",
	Key:  []Column{{Name: "id", Type: String, Size: 64}},
	Columns: []Column{
		{Name: "name", Type: String, Size: 16},
		{Name: "age", Type: Int},
		{Name: "note", Type: String, Size: 16},
	},
}

// writer writes ops as the runtime would: each op comes from one change of
// the Redis key "p:<first key value>", with a sequence that the test picks
// or that counts up.
type writer struct {
	t    *testing.T
	h    Harness
	s    handlers.Sink
	fn   string
	next uint64
}

func newWriter(t *testing.T, h Harness, addr string) *writer {
	t.Helper()
	s := h.Open(t, addr)
	t.Cleanup(func() { s.Close() })
	return attach(t, s)
}

func attach(t *testing.T, s handlers.Sink) *writer {
	w := &writer{t: t, s: s, fn: testenv.Name("conformance")}
	if cp, ok := s.(Checkpointer); ok {
		t.Cleanup(func() { cp.Forget(context.Background(), w.fn) })
	}
	return w
}

func col(name string, v any) handlers.Column { return handlers.Column{Name: name, Value: v} }

func up(table, id string, values ...handlers.Column) handlers.Op {
	return handlers.Op{Table: table, Key: []handlers.Column{col("id", id)}, Values: values}
}

func del(table, id string) handlers.Op {
	return handlers.Op{Delete: true, Table: table, Key: []handlers.Column{col("id", id)}}
}

func keyOf(op handlers.Op) string { return fmt.Sprint("p:", op.Key[0].Value) }

// write writes ops, each from a change with the next sequence.
func (w *writer) write(ops ...handlers.Op) error {
	changes := make([]handlers.KeySeq, len(ops))
	for i, op := range ops {
		w.next++
		changes[i] = handlers.KeySeq{Key: keyOf(op), Seq: w.next}
	}
	return w.writeSeq(changes, ops...)
}

// writeAt writes ops all from changes with sequence seq.
func (w *writer) writeAt(seq uint64, ops ...handlers.Op) error {
	changes := make([]handlers.KeySeq, len(ops))
	for i, op := range ops {
		changes[i] = handlers.KeySeq{Key: keyOf(op), Seq: seq}
	}
	w.next = max(w.next, seq)
	return w.writeSeq(changes, ops...)
}

// writeSeq writes ops from changes. Like the runtime, it retries transient
// errors (deadlocks between the suite's parallel tests on the state tables
// are expected); permanent and stale errors are returned at once.
func (w *writer) writeSeq(changes []handlers.KeySeq, ops ...handlers.Op) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for attempt := 1; ; attempt++ {
		err := w.s.Write(ctx, handlers.Write{Function: w.fn, Changes: changes, Ops: ops})
		var se *handlers.StaleError
		if err == nil || handlers.IsPermanent(err) || errors.As(err, &se) || attempt == 10 || ctx.Err() != nil {
			return err
		}
		w.t.Logf("transient error, retrying: %v", err)
		time.Sleep(time.Duration(attempt) * 20 * time.Millisecond)
	}
}

func (w *writer) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// rows reads table as "a|b|c" lines.
func rows(t *testing.T, h Harness, table string, spec Table) []string {
	t.Helper()
	var out []string
	for _, r := range h.Read(t, table, spec) {
		out = append(out, strings.Join(r, "|"))
	}
	return out
}

func expectRows(t *testing.T, h Harness, table string, spec Table, step string, want ...string) {
	t.Helper()
	got := rows(t, h, table, spec)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s: rows\n got %q\nwant %q", step, got, want)
	}
}

func testLifecycle(t *testing.T, h Harness) {
	w := newWriter(t, h, "")
	tb := h.CreateTable(t, people)
	w.must(w.write(
		up(tb, "1", col("name", "Marek"), col("age", "27"), col("note", "keep")),
		up(tb, "2", col("name", "Anna"), col("age", nil), col("note", "keep")),
		up(tb, "3", col("name", "gone"), col("age", "3"), col("note", "keep")),
	))
	expectRows(t, h, tb, people, "insert", "1|Marek|27|keep", "2|Anna|NULL|keep", "3|gone|3|keep")

	// Update: only the columns named change; note is not mapped here.
	w.must(w.write(up(tb, "1", col("name", "Marek"), col("age", "28"))))
	expectRows(t, h, tb, people, "update", "1|Marek|28|keep", "2|Anna|NULL|keep", "3|gone|3|keep")

	// A field removed from the hash: its column becomes NULL.
	w.must(w.write(up(tb, "1", col("name", nil), col("age", "28"))))
	expectRows(t, h, tb, people, "partial update", "1|NULL|28|keep", "2|Anna|NULL|keep", "3|gone|3|keep")

	w.must(w.write(del(tb, "3"), del(tb, "no-such-row")))
	expectRows(t, h, tb, people, "delete", "1|NULL|28|keep", "2|Anna|NULL|keep")

	// A new key after a delete of another: upserts and deletes in one write.
	w.must(w.write(up(tb, "4", col("name", "new"), col("age", "4")), del(tb, "2")))
	expectRows(t, h, tb, people, "mixed", "1|NULL|28|keep", "4|new|4|NULL")
}

func testSameKey(t *testing.T, h Harness) {
	w := newWriter(t, h, "")
	tb := h.CreateTable(t, people)
	w.must(w.write(
		up(tb, "k", col("name", "one"), col("age", "1")),
		up(tb, "k", col("name", "two"), col("age", "2")),
		up(tb, "j", col("name", "j"), col("age", "9")),
		del(tb, "k"),
		up(tb, "k", col("name", "three"), col("age", nil)),
		up(tb, "x", col("name", "x1"), col("age", "1")),
		up(tb, "x", col("name", "x2"), col("age", "2")),
		del(tb, "j"),
	))
	expectRows(t, h, tb, people, "several changes of one key", "k|three|NULL|NULL", "x|x2|2|NULL")
}

func testRedelivery(t *testing.T, h Harness) {
	guards := h.Caps.Guards || h.Caps.RowGuards
	if !guards && !h.Caps.Timestamps {
		t.Skip("the target neither guards sequences nor orders by timestamp")
	}
	w := newWriter(t, h, "")
	tb := h.CreateTable(t, people)
	steps := []struct {
		name  string
		seq   uint64
		op    handlers.Op
		stale bool
		want  []string
	}{
		{"first", 5, up(tb, "k", col("name", "five")), false, []string{"k|five|NULL|NULL"}},
		{"redelivered", 5, up(tb, "k", col("name", "five")), true, []string{"k|five|NULL|NULL"}},
		{"older", 3, up(tb, "k", col("name", "three")), true, []string{"k|five|NULL|NULL"}},
		{"delete", 7, del(tb, "k"), false, nil},
		{"stale upsert after delete", 6, up(tb, "k", col("name", "six")), true, nil},
		{"redelivered delete", 7, del(tb, "k"), true, nil},
		{"newer", 9, up(tb, "k", col("name", "nine")), false, []string{"k|nine|NULL|NULL"}},
	}
	for _, st := range steps {
		err := w.writeAt(st.seq, st.op)
		var se *handlers.StaleError
		switch {
		case guards && st.stale:
			if !errors.As(err, &se) || len(se.Stale) != 1 || se.Stale[0].Seq != st.seq || se.Applied != h.Caps.RowGuards {
				t.Fatalf("%s: error %v, want a StaleError naming p:k@%d (Applied %v)", st.name, err, st.seq, h.Caps.RowGuards)
			}
		case err != nil:
			t.Fatalf("%s: %v", st.name, err)
		}
		expectRows(t, h, tb, people, st.name, st.want...)
	}
	if !guards {
		return
	}
	// One stale change in a write refuses all of it, or (RowGuards) its
	// own row.
	err := w.writeSeq([]handlers.KeySeq{{Key: "p:k", Seq: 8}, {Key: "p:other", Seq: 10}},
		up(tb, "k", col("name", "eight")), up(tb, "other", col("name", "ten")))
	var se *handlers.StaleError
	if !errors.As(err, &se) || len(se.Stale) != 1 || se.Stale[0].Key != "p:k" {
		t.Fatalf("mixed write: %v, want only p:k@8 stale", err)
	}
	if h.Caps.RowGuards {
		expectRows(t, h, tb, people, "mixed write, row by row", "k|nine|NULL|NULL", "other|ten|NULL|NULL")
		return
	}
	expectRows(t, h, tb, people, "refused mixed write", "k|nine|NULL|NULL")
	// Another function keeps its own sequences.
	other := attach(t, w.s)
	if err := other.writeAt(1, up(tb, "k", col("name", "other"))); err != nil {
		t.Fatalf("another function: %v", err)
	}
	expectRows(t, h, tb, people, "another function", "k|other|NULL|NULL")
}

func testExactlyOnce(t *testing.T, h Harness) {
	if !h.Caps.Guards {
		t.Skip("the target has no transactions: no checkpoint")
	}
	w := newWriter(t, h, "")
	cp, ok := w.s.(Checkpointer)
	if !ok {
		t.Fatalf("%T guards sequences but does not implement Checkpointer", w.s)
	}
	ctx := context.Background()
	checkpoint := func(step string, want uint64) {
		t.Helper()
		got, err := cp.Checkpoint(ctx, w.fn)
		if err != nil || got != want {
			t.Fatalf("%s: checkpoint %d, %v; want %d", step, got, err, want)
		}
	}
	tb := h.CreateTable(t, people)
	checkpoint("before any write", 0)
	w.must(w.write(up(tb, "a", col("age", "1")), up(tb, "b", col("age", "2")), up(tb, "c", col("age", "3"))))
	checkpoint("after a write", 3)

	// A write that fails part way writes nothing: no row, no sequence, no checkpoint.
	err := w.writeSeq([]handlers.KeySeq{{Key: "p:d", Seq: 4}, {Key: "p:e", Seq: 5}},
		up(tb, "d", col("age", "4")), refusedOp(t, h, tb))
	if !handlers.IsPermanent(err) {
		t.Fatalf("write with an op the target refuses: %v, want a permanent error", err)
	}
	checkpoint("after a failed write", 3)
	expectRows(t, h, tb, people, "after a failed write", "a|NULL|1|NULL", "b|NULL|2|NULL", "c|NULL|3|NULL")
	// Its good half is not taken for applied.
	w.must(w.writeSeq([]handlers.KeySeq{{Key: "p:d", Seq: 4}}, up(tb, "d", col("age", "4"))))
	checkpoint("after the good half", 4)
	// The checkpoint never moves back.
	w.must(w.writeSeq([]handlers.KeySeq{{Key: "p:z", Seq: 2}}, up(tb, "z", col("age", "26"))))
	checkpoint("after an older sequence of a new key", 4)
	// Forget: a replay from the start applies everything again.
	if err := cp.Forget(ctx, w.fn); err != nil {
		t.Fatal(err)
	}
	checkpoint("after Forget", 0)
	w.must(w.writeSeq([]handlers.KeySeq{{Key: "p:a", Seq: 1}}, up(tb, "a", col("age", "100"))))
	expectRows(t, h, tb, people, "replayed", "a|NULL|100|NULL", "b|NULL|2|NULL", "c|NULL|3|NULL", "d|NULL|4|NULL", "z|NULL|26|NULL")
}

// history is an append-mode table: many rows per Redis key.
var history = Table{
	Base: "history",
	Key:  []Column{{Name: "jetsync_seq", Type: BigInt}},
	Columns: []Column{
		{Name: "id", Type: String, Size: 64},
		{Name: "jetsync_op", Type: String, Size: 8},
		{Name: "v", Type: String, Size: 16},
	},
}

func testAppend(t *testing.T, h Harness) {
	w := newWriter(t, h, "")
	tb := h.CreateTable(t, history)
	row := func(seq uint64, id, op string, v any) handlers.Op {
		return handlers.Op{Table: tb, Key: []handlers.Column{col("jetsync_seq", seq)},
			Values: []handlers.Column{col("id", id), col("jetsync_op", op), col("v", v)}}
	}
	ks := func(seqs ...uint64) []handlers.KeySeq {
		var out []handlers.KeySeq
		for _, s := range seqs {
			out = append(out, handlers.KeySeq{Key: "p:a", Seq: s})
		}
		return out
	}
	w.must(w.writeSeq(ks(1, 2, 3), row(1, "a", "upsert", "one"), row(2, "a", "upsert", "two"), row(3, "a", "delete", nil)))
	w.must(w.writeSeq(ks(4), row(4, "a", "upsert", "four")))
	expectRows(t, h, tb, history, "history", "1|a|upsert|one", "2|a|upsert|two", "3|a|delete|NULL", "4|a|upsert|four")
}

func testErrorClasses(t *testing.T, h Harness) {
	w := newWriter(t, h, "")
	tb := h.CreateTable(t, people)
	tests := []struct {
		name      string
		op        handlers.Op
		permanent bool
		skip      string
	}{
		{"too long", up(tb, "long", col("name", strings.Repeat("x", 17))), true, map[bool]string{false: "the target has no length limit"}[h.Caps.LengthLimit]},
		{"wrong type", up(tb, "type", col("age", "twenty")), true, map[bool]string{true: "the target stores text: no column types"}[h.Caps.Untyped]},
		{"fine", up(tb, "fine", col("name", strings.Repeat("x", 16)), col("age", "-2147483648")), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip != "" {
				t.Skip(tt.skip)
			}
			err := w.write(tt.op)
			if tt.permanent != handlers.IsPermanent(err) || (!tt.permanent && err != nil) {
				t.Fatalf("error %v (permanent %v), want permanent %v", err, handlers.IsPermanent(err), tt.permanent)
			}
		})
	}
	if h.Caps.Guards {
		// A permanent error rolls back the whole write.
		err := w.write(up(tb, "ok", col("name", "ok")), refusedOp(t, h, tb))
		if !handlers.IsPermanent(err) {
			t.Fatalf("write with a bad op: %v, want permanent", err)
		}
	}
	want := []string{"fine|xxxxxxxxxxxxxxxx|-2147483648|NULL"}
	if h.Caps.RowGuards {
		// No transaction: the write's good rows are written all the same.
		err := w.write(up(tb, "ok", col("name", "ok")), refusedOp(t, h, tb))
		if !handlers.IsPermanent(err) {
			t.Fatalf("write with a bad op: %v, want permanent", err)
		}
		want = append(want, "ok|ok|NULL|NULL")
	}
	expectRows(t, h, tb, people, "after the errors", want...)
}

// refusedOp is an op on row "e" of table that the target refuses for good.
func refusedOp(t *testing.T, h Harness, table string) handlers.Op {
	if h.Refused != nil {
		return h.Refused(t, table)
	}
	return up(table, "e", col("age", "not a number"))
}

func testOutage(t *testing.T, h Harness) {
	var s handlers.Sink
	var cut, restore func()
	if h.Caps.Outage != nil {
		s, cut, restore = h.Caps.Outage(t)
	} else {
		if h.Addr == "" {
			t.Fatal("harness has neither Addr nor Caps.Outage")
		}
		proxy := testenv.NewProxy(t, h.Addr)
		s = h.Open(t, proxy.Addr)
		cut, restore = proxy.Cut, proxy.Restore
	}
	t.Cleanup(func() { s.Close() })
	w := attach(t, s)
	tb := h.CreateTable(t, people)
	w.must(w.write(up(tb, "before", col("age", "1"))))
	cut()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := s.Write(ctx, handlers.Write{Function: w.fn, Changes: []handlers.KeySeq{{Key: "p:during", Seq: 100}},
		Ops: []handlers.Op{up(tb, "during", col("age", "2"))}})
	if err == nil || handlers.IsPermanent(err) {
		t.Fatalf("write while the target is down: %v; want a transient error", err)
	}
	var se *handlers.StaleError
	if errors.As(err, &se) {
		t.Fatalf("write while the target is down: %v; want a transient error, not stale", err)
	}
	restore()
	testenv.Eventually(t, 30*time.Second, func() error {
		return s.Write(context.Background(), handlers.Write{Function: w.fn, Changes: []handlers.KeySeq{{Key: "p:during", Seq: 100}},
			Ops: []handlers.Op{up(tb, "during", col("age", "2"))}})
	})
	got := rows(t, h, tb, people)
	if want := "during|NULL|2|NULL"; len(got) == 0 || got[len(got)-1] != want {
		t.Fatalf("rows after the outage %q, want the last %q", got, want)
	}
}

// DefaultIdentifiers are column names that only work quoted.
var DefaultIdentifiers = []string{"select", "Mixed Case", "dash-col", `quo"te`, "back`tick", "semi;colon"}

func testIdentifiers(t *testing.T, h Harness) {
	names := h.Caps.Identifiers
	if len(names) == 0 {
		names = DefaultIdentifiers
	}
	spec := Table{Base: "order by", Key: []Column{{Name: "key col", Type: String, Size: 64}}}
	for _, n := range names {
		spec.Columns = append(spec.Columns, Column{Name: n, Type: String, Size: 16})
	}
	w := newWriter(t, h, "")
	tb := h.CreateTable(t, spec)
	op := func(id, v string) handlers.Op {
		o := handlers.Op{Table: tb, Key: []handlers.Column{col("key col", id)}}
		for _, n := range names {
			o.Values = append(o.Values, col(n, v))
		}
		return o
	}
	line := func(id, v string) string { return id + strings.Repeat("|"+v, len(names)) }
	w.must(w.write(op("a", "1"), op("b", "2")))
	w.must(w.write(op("a", "3"), handlers.Op{Delete: true, Table: tb, Key: []handlers.Column{col("key col", "b")}}))
	expectRows(t, h, tb, spec, "quoted names", line("a", "3"))
}

var unicodeText = Table{
	Base: "unicode",
	Key:  []Column{{Name: "id", Type: String, Size: 64}},
	Columns: []Column{
		{Name: "short", Type: String, Size: 16},
		{Name: "big", Type: LongText},
	},
}

func testUnicode(t *testing.T, h Harness) {
	w := newWriter(t, h, "")
	tb := h.CreateTable(t, unicodeText)
	short := "Łucja ☃ 𝄞 日本 é" // 14 characters, 30 bytes
	big := strings.Repeat("zażółć ☃ 𝄞 ", 1<<20/len("zażółć ☃ 𝄞 ")+1)
	id := "ключ ☃ 🔑"
	w.must(w.write(handlers.Op{Table: tb, Key: []handlers.Column{col("id", id)}, Values: []handlers.Column{col("short", short), col("big", big)}},
		handlers.Op{Table: tb, Key: []handlers.Column{col("id", "plain")}, Values: []handlers.Column{col("short", "'; --\\"), col("big", "\x01\t\n\\N")}}))
	got := h.Read(t, tb, unicodeText)
	if len(got) != 2 {
		t.Fatalf("%d rows, want 2", len(got))
	}
	byID := map[string][]string{got[0][0]: got[0], got[1][0]: got[1]}
	r := byID[id]
	if r == nil || r[1] != short || r[2] != big {
		t.Fatalf("unicode row: id present %v, short %q, big %d bytes (equal %v), want %q and %d bytes", r != nil, at(r, 1), len(at(r, 2)), at(r, 2) == big, short, len(big))
	}
	if p := byID["plain"]; p == nil || p[1] != "'; --\\" || p[2] != "\x01\t\n\\N" {
		t.Fatalf("escaping row %q", p)
	}
}

func at(r []string, i int) string {
	if i < len(r) {
		return r[i]
	}
	return ""
}

func testTenThousand(t *testing.T, h Harness) {
	w := newWriter(t, h, "")
	tb := h.CreateTable(t, people)
	n := h.Caps.scaled(10000)
	ops := make([]handlers.Op, n)
	for i := range ops {
		ops[i] = up(tb, fmt.Sprintf("%05d", i), col("name", fmt.Sprintf("n%d", i)), col("age", fmt.Sprint(i)))
	}
	w.must(w.write(ops...))
	got := rows(t, h, tb, people)
	if len(got) != n || got[0] != "00000|n0|0|NULL" || got[n-1] != fmt.Sprintf("%05d|n%d|%d|NULL", n-1, n-1, n-1) {
		t.Fatalf("%d rows (first %q, last %q), want %d", len(got), at(got, 0), at(got, len(got)-1), n)
	}
	// Half of them deleted, the other half updated, in one write.
	for i := range ops {
		if i%2 == 0 {
			ops[i] = del(tb, fmt.Sprintf("%05d", i))
		} else {
			ops[i] = up(tb, fmt.Sprintf("%05d", i), col("name", "u"), col("age", fmt.Sprint(-i)))
		}
	}
	w.must(w.write(ops...))
	got = rows(t, h, tb, people)
	if len(got) != n/2 || got[0] != "00001|u|-1|NULL" || got[n/2-1] != fmt.Sprintf("%05d|u|-%d|NULL", n-1, n-1) {
		t.Fatalf("%d rows (first %q, last %q), want %d", len(got), at(got, 0), at(got, len(got)-1), n/2)
	}
}

// testTruncate: `jetsync replay --truncate` empties a table through the
// sink's handlers.TableTruncater, then the sink takes new writes.
func testTruncate(t *testing.T, h Harness) {
	w := newWriter(t, h, "")
	tt, ok := w.s.(handlers.TableTruncater)
	if !ok {
		t.Skipf("%T does not implement handlers.TableTruncater: jetsync replay --truncate is refused for it", w.s)
	}
	tb := h.CreateTable(t, people)
	w.must(w.write(up(tb, "a", col("age", "1")), up(tb, "b", col("age", "2"))))
	if err := tt.Truncate(context.Background(), tb); err != nil {
		t.Fatal(err)
	}
	expectRows(t, h, tb, people, "after Truncate")
	w.must(w.write(up(tb, "c", col("age", "3"))))
	expectRows(t, h, tb, people, "after a write", "c|NULL|3|NULL")
}
