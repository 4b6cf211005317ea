package handlers

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Coalesce keeps the newest change of each key — the one with the highest
// stream sequence, which is not always the last in the batch: a requeued
// dead letter keeps its original sequence and arrives after newer changes —
// in batch order of those kept. The runtime calls it on every batch, unless
// the function keeps history (see HistoryKeeper).
func Coalesce(changes []Change) []Change {
	last := make(map[string]int, len(changes))
	for i, c := range changes {
		if j, ok := last[c.Key]; !ok || c.Seq >= changes[j].Seq {
			last[c.Key] = i
		}
	}
	out := make([]Change, 0, len(last))
	for i, c := range changes {
		if last[c.Key] == i {
			out = append(out, c)
		}
	}
	return out
}

// HistoryKeeper is implemented by functions that want every change, not
// only the last one of each key in a batch (an audit or history table).
type HistoryKeeper interface {
	KeepHistory() bool
}

func keepsHistory(fn Function) bool {
	h, ok := fn.(HistoryKeeper)
	return ok && h.KeepHistory()
}

// id is how the runtime tells changes apart (and the first guard entry a
// change claims, see applier.guards): by key and order; or, for a function
// that keeps history (every change its own row), by message — the key and
// the change's stream sequence, with the order.
func (c Change) id(history bool) KeySeq {
	if !history {
		return KeySeq{Key: c.Key, Seq: c.Seq}
	}
	msg := c.StreamSeq
	if msg == 0 { // not from a stream (Apply in tests)
		msg = c.Seq
	}
	return KeySeq{Key: c.Key + "\x00" + strconv.FormatUint(msg, 10), Seq: c.Seq}
}

// Apply does with one batch what the runtime does, without NATS, retries or
// sequence guards: it coalesces changes (unless fn keeps history), hands
// them to fn, and writes fn's ops through sink in one transaction. Changes
// that fn refuses (Batch.Fail) or whose write fails permanently are isolated
// and returned as dead letters; everything else is written. A transient
// error is returned as it is. handlers/handlertest builds on it.
func Apply(ctx context.Context, fn Function, sink Sink, changes []Change) ([]DeadLetter, error) {
	var dls []DeadLetter
	a := applier{
		fn: fn, sink: sink, history: keepsHistory(fn), olderThanKey: map[KeySeq]bool{},
		retry: func(ctx context.Context, attempt func(context.Context) error) error { return attempt(ctx) },
		deadLetter: func(_ context.Context, dl DeadLetter) error {
			dls = append(dls, dl)
			return nil
		},
	}
	if !keepsHistory(fn) {
		changes = Coalesce(changes)
	}
	err := a.apply(ctx, changes)
	return dls, err
}

// applier writes batches. The runtime gives it a retry that repeats
// transient failures with backoff and a deadLetter that publishes to the
// dead-letter stream.
type applier struct {
	fn Function
	// function names the writer for the sink's sequence guards; empty: none.
	function string
	sink     Sink
	// retry runs attempt until it returns nil or a permanent error (or ctx
	// ends), each time with a context of its own that bounds the attempt.
	retry func(ctx context.Context, attempt func(ctx context.Context) error) error
	// deadLetter stores one dead letter; it runs before the rest of the batch
	// is committed, so a crash in between cannot lose it.
	deadLetter func(ctx context.Context, dl DeadLetter) error
	// m counts what happens; nil: nothing is counted.
	m *metrics
	// filed holds the changes refused with Batch.Fail and dead-lettered
	// already, so that a retried attempt does not file them again.
	filed map[KeySeq]bool
	// history: the function keeps every change (HistoryKeeper), so changes
	// are told apart by message, not by key and order (Change.id, guards).
	history bool
	// olderThanKey holds the key entries (guards) of history changes found
	// older than their key's last: the change is kept, the entry left out.
	olderThanKey map[KeySeq]bool
	// noIsolation is a test hook: a permanent failure dead-letters the
	// whole batch instead of narrowing it down to the guilty change.
	noIsolation bool
}

// guards are the sequence-guard entries a change claims; the first decides
// whether it is stale. An upsert function's change claims its key
// (Change.id). A history function's change claims its message, so that
// only a redelivery or replay of it is stale, and also its key, unless it
// is older than the key's last: a change whose order was moved below its
// own sequence — stored late by a superseded bridge, or requeued — claims
// its key alone, so that it is refused where something newer of its key
// was applied, as for any function (the fence must hold in a history too).
func (a applier) guards(c Change) []KeySeq {
	key := KeySeq{Key: c.Key, Seq: c.Seq}
	if !a.history || (c.StreamSeq != 0 && c.Seq < c.StreamSeq) {
		return []KeySeq{key}
	}
	if a.olderThanKey[key] {
		return []KeySeq{c.id(true)}
	}
	return []KeySeq{c.id(true), key}
}

// apply writes changes. A permanent failure is narrowed down by halving the
// batch until the guilty change stands alone; it is dead-lettered and the
// rest is written.
func (a applier) apply(ctx context.Context, changes []Change) error {
	if len(changes) == 0 {
		return nil
	}
	err := a.retry(ctx, func(ctx context.Context) error {
		var err error
		changes, err = a.attempt(ctx, changes)
		return err
	})
	switch {
	case err == nil || !IsPermanent(err):
		return err
	case len(changes) == 1 || a.noIsolation:
		for _, c := range changes {
			a.m.failed("permanent")
			if err := a.deadLetter(ctx, DeadLetter{Change: c, Err: err}); err != nil {
				return err
			}
		}
		return nil
	}
	half := len(changes) / 2
	if err := a.apply(ctx, changes[:half]); err != nil {
		return err
	}
	return a.apply(ctx, changes[half:])
}

// attempt writes changes once. Changes the sink reports as already applied
// are dropped and the rest is written again at once; it returns the changes
// still to write.
func (a applier) attempt(ctx context.Context, changes []Change) ([]Change, error) {
	for len(changes) > 0 {
		b := &Batch{Changes: changes}
		if err := a.fn.Handle(ctx, b); err != nil {
			return changes, err
		}
		failed := map[KeySeq]bool{}
		for _, dl := range b.failed {
			ks := dl.Change.id(a.history)
			if !a.filed[ks] {
				if err := a.deadLetter(ctx, dl); err != nil {
					return changes, err
				}
				if a.filed != nil {
					a.filed[ks] = true
				}
			}
			failed[ks] = true
		}
		w := Write{Function: a.function, Ops: b.ops}
		written := 0
		for _, c := range changes {
			if failed[c.id(a.history)] {
				continue
			}
			written++
			if a.function != "" {
				w.Changes = append(w.Changes, a.guards(c)...)
			}
		}
		start := time.Now()
		err := a.sink.Write(ctx, w)
		if err == nil {
			a.m.committed(changes, time.Since(start))
			a.m.count("applied", written)
		}
		var se *StaleError
		if !errors.As(err, &se) {
			return changes, err
		}
		stale := make(map[KeySeq]bool, len(se.Stale))
		for _, ks := range se.Stale {
			stale[ks] = true
		}
		if se.Applied {
			n := 0
			for _, c := range changes {
				if stale[a.guards(c)[0]] {
					n++
				}
			}
			a.m.committed(changes, time.Since(start))
			a.m.count("applied", written-n)
			a.m.count("stale", n)
			return nil, nil
		}
		fresh := changes[:0:0]
		skipped := false
		for _, c := range changes {
			ids := a.guards(c)
			switch {
			case stale[ids[0]]:
				// stale: dropped
			case len(ids) == 2 && stale[ids[1]]:
				// A history change older than its key's last: kept, without
				// raising the key's entry.
				a.olderThanKey[ids[1]] = true
				skipped = true
				fresh = append(fresh, c)
			default:
				fresh = append(fresh, c)
			}
		}
		if len(fresh) == len(changes) && !skipped {
			return changes, err // the sink named nothing of ours: treat as transient
		}
		a.m.count("stale", len(changes)-len(fresh))
		changes = fresh
	}
	return changes, nil
}
