package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/bridge/streams"
)

// Pruner is implemented by sinks whose sequence guards keep an entry per
// key, deleted keys included (the SQL connectors): Prune drops a function's
// entries whose order is below horizon and records horizon as the
// function's pruning mark; Pruned returns that mark (0: never pruned).
type Pruner interface {
	Prune(ctx context.Context, function string, horizon uint64) (int64, error)
	Pruned(ctx context.Context, function string) (uint64, error)
}

// ErrBelowPruned is the dead-letter reason of a change whose order is below
// the function's pruning mark: the guard entry that would tell whether a
// newer change of its key was applied may be gone, so it is neither applied
// nor dropped.
var ErrBelowPruned = errors.New("older than this function's guard pruning horizon")

// pruneLoop prunes the sink's guard entries every PruneInterval until ctx
// ends. The horizon is the lowest order a change of the function can still
// arrive with: the change stream's first sequence (a change in the stream
// has its sequence as its order, or, requeued or stored late by a
// superseded bridge, a lower one) and the original order of every dead
// letter of the function (it may be requeued). A change below the mark that
// arrives anyway — requeued during a prune, or replayed — is dead-lettered
// (belowPruned).
func (r *Runner) pruneLoop(ctx context.Context) {
	p, ok := r.sink.(Pruner)
	if !ok || r.cfg.PruneInterval <= 0 {
		return
	}
	t := time.NewTicker(r.cfg.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		horizon, err := r.pruneHorizon(ctx)
		if err == nil && horizon > 1 {
			var n int64
			if n, err = p.Prune(ctx, r.cfg.Name, horizon); err == nil {
				r.m.pruned.Add(float64(n))
				r.log.Info("guard entries pruned", "entries", n, "below", horizon)
			}
		}
		if err != nil && ctx.Err() == nil {
			r.log.Warn("pruning the guard entries failed; trying again at the next interval", "err", err)
		}
	}
}

// pruneHorizon returns the lowest order a change of the function can still
// arrive with (see pruneLoop).
func (r *Runner) pruneHorizon(ctx context.Context) (uint64, error) {
	s, err := r.js.Stream(ctx, r.cfg.Stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", r.cfg.Stream, err)
	}
	horizon := s.CachedInfo().State.FirstSeq
	if r.pruneIgnoresDeadLetters {
		return horizon, nil
	}
	oldest, err := r.oldestDeadLetter(ctx)
	if err != nil {
		return 0, err
	}
	if oldest > 0 {
		horizon = min(horizon, oldest)
	}
	return horizon, nil
}

// oldestDeadLetter returns the lowest original order among the function's
// dead letters (0: none), reading their headers only.
func (r *Runner) oldestDeadLetter(ctx context.Context) (uint64, error) {
	name := streams.DeadLetterStream(r.cfg.Stream)
	s, err := r.js.Stream(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", name, err)
	}
	var oldest uint64
	err = streams.EachDeadLetter(ctx, s, r.cfg.Name, true, func(m jetstream.Msg) error {
		if n := change.ParseDeadLetter(m.Headers()).Order(); n > 0 && (oldest == 0 || n < oldest) {
			oldest = n
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("read the dead letters of %s: %w", r.cfg.Name, err)
	}
	return oldest, nil
}

// belowPruned takes out of changes those whose order is below the
// function's pruning mark; only a change whose order is not its own stream
// sequence can be (requeued, or stored late by a superseded bridge), so
// the mark is read only for a batch that has one.
func (r *Runner) belowPruned(ctx context.Context, changes []Change) (keep, below []Change, mark uint64, err error) {
	p, ok := r.sink.(Pruner)
	if !ok || r.pruneMarkOff {
		return changes, nil, 0, nil
	}
	var lowest uint64
	for _, c := range changes {
		if c.Seq < c.StreamSeq && (lowest == 0 || c.Seq < lowest) {
			lowest = c.Seq
		}
	}
	if lowest == 0 {
		return changes, nil, 0, nil
	}
	mark, err = p.Pruned(ctx, r.cfg.Name)
	if err != nil || lowest >= mark {
		return changes, nil, mark, err
	}
	for _, c := range changes {
		if c.Seq < mark {
			below = append(below, c)
		} else {
			keep = append(keep, c)
		}
	}
	return keep, below, mark, nil
}

// belowPrunedError is the reason filed with a change below the mark.
func (r *Runner) belowPrunedError(c Change, mark uint64) error {
	return fmt.Errorf("%w: its order %d is below %d, and the guard entries below that were pruned, so whether a newer change of %q was applied cannot be told; if it should apply, requeue it as a new change: jetsync dlq requeue %s --as-new <seq>",
		ErrBelowPruned, c.Seq, mark, c.Key, r.cfg.Name)
}
