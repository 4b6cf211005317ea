package handlers

import (
	"context"
)

// Coalesce keeps the last change of each key, in stream order of those last
// changes. The runtime calls it on every batch.
func Coalesce(changes []Change) []Change {
	last := make(map[string]int, len(changes))
	for i, c := range changes {
		last[c.Key] = i
	}
	out := make([]Change, 0, len(last))
	for i, c := range changes {
		if last[c.Key] == i {
			out = append(out, c)
		}
	}
	return out
}

// Apply does with one batch what the runtime does, without NATS and without
// retries: it coalesces changes, hands them to fn, and writes fn's ops
// through sink in one transaction. Changes that fn refuses (Batch.Fail) or
// whose write fails permanently are isolated and returned as dead letters;
// everything else is written. A transient error is returned as it is. Test
// kits use it; see handlers/handlertest.
func Apply(ctx context.Context, fn Function, sink Sink, changes []Change) ([]DeadLetter, error) {
	var dls []DeadLetter
	a := applier{
		fn: fn, sink: sink,
		retry: func(_ context.Context, attempt func() error) error { return attempt() },
		deadLetter: func(_ context.Context, dl DeadLetter) error {
			dls = append(dls, dl)
			return nil
		},
	}
	err := a.apply(ctx, Coalesce(changes))
	return dls, err
}

// applier writes batches. The runtime gives it a retry that repeats
// transient failures with backoff and a deadLetter that publishes to the
// dead-letter stream.
type applier struct {
	fn   Function
	sink Sink
	// retry runs attempt until it returns nil or a permanent error (or ctx ends).
	retry func(ctx context.Context, attempt func() error) error
	// deadLetter stores one dead letter; it runs before the rest of the batch
	// is committed, so a crash in between cannot lose it.
	deadLetter func(ctx context.Context, dl DeadLetter) error
}

// apply writes changes (already coalesced). A permanent failure is narrowed
// down by halving the batch until the guilty change stands alone; it is
// dead-lettered and the rest is written.
func (a applier) apply(ctx context.Context, changes []Change) error {
	if len(changes) == 0 {
		return nil
	}
	err := a.retry(ctx, func() error {
		b := &Batch{Changes: changes}
		if err := a.fn.Handle(ctx, b); err != nil {
			return err
		}
		for _, dl := range b.failed {
			if err := a.deadLetter(ctx, dl); err != nil {
				return err
			}
		}
		return a.sink.Write(ctx, b.ops)
	})
	switch {
	case err == nil || !IsPermanent(err):
		return err
	case len(changes) == 1:
		return a.deadLetter(ctx, DeadLetter{Change: changes[0], Err: err})
	}
	half := len(changes) / 2
	if err := a.apply(ctx, changes[:half]); err != nil {
		return err
	}
	return a.apply(ctx, changes[half:])
}
