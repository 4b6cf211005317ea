package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/infra/platform"
)

// Truncater is implemented by a function that can empty what it writes;
// `jetsync replay --truncate` needs it. The table function deletes all rows
// of its table through a TableTruncater sink.
type Truncater interface {
	Truncate(ctx context.Context, sink Sink) error
}

// TableTruncater is implemented by sinks that can delete every row of a
// table (the MySQL, PostgreSQL and SQLite connectors).
type TableTruncater interface {
	Truncate(ctx context.Context, table string) error
}

// Checkpointer is implemented by sinks that keep a function's checkpoint
// (the highest order applied) with its sequence guards.
type Checkpointer interface {
	Checkpoint(ctx context.Context, function string) (uint64, error)
}

// Forgetter is implemented by sinks that keep sequence guards: Forget drops
// a function's guards and checkpoint, so that everything replayed is
// applied again.
type Forgetter interface {
	Forget(ctx context.Context, function string) error
}

// errNoTruncate is a replay that asks for a truncation the function cannot do.
var errNoTruncate = errors.New("the function cannot truncate (it does not implement handlers.Truncater)")

// watchReplays looks for the function's replay consumer every ReplayPoll
// and, when there is one, replays it until it is done or ctx ends. work
// bounds the batch in hand, as for live batches.
func (r *Runner) watchReplays(ctx, work context.Context) {
	name := change.ReplayConsumer(r.cfg.Name)
	failed := "" // the creation time of a replay that failed for good: not retried
	t := time.NewTicker(r.cfg.ReplayPoll)
	defer t.Stop()
	for {
		cons, err := r.js.Consumer(ctx, r.cfg.Stream, name)
		if err == nil {
			info := cons.CachedInfo()
			if id := info.Created.String(); id != failed && info.Config.Metadata[change.MetaReplayError] == "" {
				if err := r.replay(ctx, work, cons); err != nil && ctx.Err() == nil {
					r.log.Error("replay failed", "err", err)
					if errors.Is(err, errNoTruncate) || IsPermanent(err) {
						failed = id
						_ = r.markReplay(ctx, name, map[string]string{change.MetaReplayError: err.Error()})
					}
				}
			}
		} else if !errors.Is(err, jetstream.ErrConsumerNotFound) && ctx.Err() == nil {
			r.log.Warn("cannot look for a replay", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// replay applies the replay consumer's messages up to its end sequence,
// through the same applier (and sequence guards) as live batches, then
// deletes the consumer. The live consumer keeps its own position.
func (r *Runner) replay(ctx, work context.Context, cons jetstream.Consumer) error {
	info := cons.CachedInfo()
	md := info.Config.Metadata
	if md[change.MetaReplayOf] != r.cfg.Name {
		return fmt.Errorf("consumer %s is not a replay of %s (metadata %s=%q)", info.Name, r.cfg.Name, change.MetaReplayOf, md[change.MetaReplayOf])
	}
	end, err := strconv.ParseUint(md[change.MetaReplayEnd], 10, 64)
	if err != nil {
		return fmt.Errorf("consumer %s: metadata %s=%q: %w", info.Name, change.MetaReplayEnd, md[change.MetaReplayEnd], err)
	}
	log := r.log.With("replay", info.Name, "end", end)
	if md[change.MetaReplayTruncate] == "true" && md[change.MetaReplayTruncated] != "true" {
		live, err := r.truncate(ctx, log)
		if err != nil {
			return err
		}
		// Live changes applied before the truncation may lie past the
		// requested end: the replay must bring them back too.
		end = max(end, live)
		if err := r.markReplay(ctx, info.Name, map[string]string{
			change.MetaReplayTruncated: "true", change.MetaReplayEnd: strconv.FormatUint(end, 10),
		}); err != nil {
			return err
		}
		log = log.With("end", end)
	}
	log.Info("replay started", "from", info.AckFloor.Stream+1)
	for ctx.Err() == nil {
		ci, err := cons.Info(ctx)
		if err != nil {
			return fmt.Errorf("replay consumer info: %w", err)
		}
		if ci.AckFloor.Stream >= end || (ci.NumPending == 0 && ci.NumAckPending == 0) {
			break
		}
		msgs, err := r.fetchReplay(ctx, cons)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("replay fetch failed; retrying", "err", err)
			}
			continue
		}
		var batch []jetstream.Msg
		past := false
		for _, m := range msgs {
			if meta, err := m.Metadata(); err == nil && meta.Sequence.Stream > end {
				past = true // not part of the replay: left to the live consumer
				continue
			}
			batch = append(batch, m)
		}
		if len(batch) > 0 {
			r.process(work, batch, false)
		}
		if past {
			break
		}
	}
	if ctx.Err() != nil {
		log.Info("replay paused; it resumes when the function starts again")
		return ctx.Err()
	}
	if err := r.js.DeleteConsumer(ctx, r.cfg.Stream, info.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("delete the finished replay consumer: %w", err)
	}
	log.Info("replay done")
	return nil
}

// fetchReplay takes up to a batch of the replay consumer's messages,
// waiting at most a second for the first so that the end is noticed.
func (r *Runner) fetchReplay(ctx context.Context, cons jetstream.Consumer) ([]jetstream.Msg, error) {
	wait, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	b, err := cons.Fetch(r.cfg.BatchSize, jetstream.FetchContext(wait))
	if err != nil {
		return nil, err
	}
	msgs := drain(b, nil)
	if err := b.Error(); err != nil && len(msgs) == 0 && !errors.Is(err, context.DeadlineExceeded) {
		return nil, err
	}
	return msgs, nil
}

// truncate empties the function's tables and forgets its sequence guards,
// while no live batch is written (so no live write falls between the two).
// It returns the last stream sequence the live consumer had delivered
// then: every live change applied before the truncation is at or below it.
func (r *Runner) truncate(ctx context.Context, log *slog.Logger) (uint64, error) {
	t, ok := r.fn.(Truncater)
	if !ok {
		return 0, errNoTruncate
	}
	r.writing.Lock()
	defer r.writing.Unlock()
	var delivered uint64
	err := r.retry(ctx, func(ctx context.Context) error {
		live, err := r.js.Consumer(ctx, r.cfg.Stream, r.cfg.Name)
		if err != nil {
			return fmt.Errorf("live consumer: %w", err)
		}
		info, err := live.Info(ctx)
		if err != nil {
			return fmt.Errorf("live consumer: %w", err)
		}
		delivered = info.Delivered.Stream
		if err := t.Truncate(ctx, r.sink); err != nil {
			return err
		}
		if f, ok := r.sink.(Forgetter); ok {
			return f.Forget(ctx, r.cfg.Name)
		}
		return nil
	}, func() {})
	if err != nil {
		return 0, fmt.Errorf("truncate before replay: %w", err)
	}
	log.Info("truncated the function's tables and forgot its sequence guards for the replay", "live_delivered", delivered)
	return delivered, nil
}

// markReplay sets metadata entries of the replay consumer, keeping the
// rest of its configuration.
func (r *Runner) markReplay(ctx context.Context, name string, set map[string]string) error {
	backoff := platform.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		cons, err := r.js.Consumer(ctx, r.cfg.Stream, name)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("replay consumer %s is gone: %w", name, err)
		}
		if err == nil {
			cfg := cons.CachedInfo().Config
			md := make(map[string]string, len(cfg.Metadata)+len(set))
			maps.Copy(md, cfg.Metadata)
			maps.Copy(md, set)
			cfg.Metadata = md
			if _, err = r.js.UpdateConsumer(ctx, r.cfg.Stream, cfg); err == nil {
				return nil
			}
		}
		r.log.Warn("cannot update the replay consumer yet; retrying", "err", err)
		if !backoff.Wait(ctx) {
			return ctx.Err()
		}
	}
}
