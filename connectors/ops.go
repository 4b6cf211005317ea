package connectors

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"

	"github.com/jetsync/jetsync/handlers"
)

// How a Write's ops group into statements and how a Redis key is stored by
// the sequence guards. Every connector uses the same, so that they agree on
// what a run and a key are.

// Runs splits ops into runs of consecutive ops of one table and shape (same
// kind, same key and value column names), in order: each run can become
// one multi-row statement.
func Runs(ops []handlers.Op) [][]handlers.Op {
	var out [][]handlers.Op
	for i := 0; i < len(ops); {
		j := i + 1
		for j < len(ops) && sameShape(ops[i], ops[j]) {
			j++
		}
		out = append(out, ops[i:j])
		i = j
	}
	return out
}

func sameShape(a, b handlers.Op) bool {
	return a.Delete == b.Delete && a.Table == b.Table && sameNames(a.Key, b.Key) && sameNames(a.Values, b.Values)
}

func sameNames(a, b []handlers.Column) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name {
			return false
		}
	}
	return true
}

// LastPerKey keeps, of one run, the last op of each key, in order: within a
// run of one shape the last op of a key is its result, and some statements
// (INSERT ... ON CONFLICT, MERGE) cannot touch one row twice.
func LastPerKey(ops []handlers.Op) []handlers.Op {
	if len(ops) < 2 {
		return ops
	}
	last := make(map[string]int, len(ops))
	for i, op := range ops {
		last[KeyString(op.Key)] = i
	}
	if len(last) == len(ops) {
		return ops
	}
	out := make([]handlers.Op, 0, len(last))
	for i, op := range ops {
		if last[KeyString(op.Key)] == i {
			out = append(out, op)
		}
	}
	return out
}

// KeyString is an unambiguous text of a row key's values.
func KeyString(key []handlers.Column) string {
	if len(key) == 1 {
		return fmt.Sprint(key[0].Value)
	}
	var b strings.Builder
	for _, c := range key {
		s := fmt.Sprint(c.Value)
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	return b.String()
}

// KeyHash is how the sequence guards store a Redis key: its SHA-256, so
// that keys of any length fit a fixed-size primary key.
func KeyHash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// OpSource is where an op of a write comes from: the stream sequence that
// orders it and the changes (indexes into Write.Changes) it stands for.
type OpSource struct {
	Seq     uint64
	Changes []int
}

// OpSources returns, for each op of w, the changes whose id (the Redis key
// after its first ':') equals one of the op's key values, and the newest
// of their sequences; an op whose key holds no change's id (a row a
// function derives, an append table's sequence key) stands for the changes
// with the write's newest sequence. The table function and the examples
// key rows by the id, so targets that order rows without a guard table
// (Cassandra's timestamps, MongoDB's per-document sequence) take an op's
// order from here.
func OpSources(w handlers.Write) []OpSource {
	byID := map[string][]int{}
	var top uint64
	for i, c := range w.Changes {
		id := c.Key
		if _, rest, ok := strings.Cut(c.Key, ":"); ok {
			id = rest
		}
		byID[id] = append(byID[id], i)
		top = max(top, c.Seq)
	}
	out := make([]OpSource, len(w.Ops))
	for i, op := range w.Ops {
		for _, k := range op.Key {
			if idx, ok := byID[fmt.Sprint(k.Value)]; ok {
				out[i].Changes = idx
				break
			}
		}
		if out[i].Changes == nil {
			for j, c := range w.Changes {
				if c.Seq == top {
					out[i].Changes = append(out[i].Changes, j)
				}
			}
		}
		for _, j := range out[i].Changes {
			out[i].Seq = max(out[i].Seq, w.Changes[j].Seq)
		}
	}
	return out
}

// OpSeqs returns the sequence of each op of w (see OpSources).
func OpSeqs(w handlers.Write) []uint64 {
	src := OpSources(w)
	out := make([]uint64, len(src))
	for i, s := range src {
		out[i] = s.Seq
	}
	return out
}
