package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/bridge/streams"
	"github.com/jetsync/jetsync/infra/platform"
)

// Registration: the function's durable consumer, the version that owns it,
// and the stream it consumes.

// ErrOlderVersion is returned by Run when a newer version of the function
// has taken over its consumer.
var ErrOlderVersion = errors.New("a newer version of this function owns its consumer")

// forgetEarlierStream drops the sink's sequence guards when they come from
// an earlier stream: sequences never go back, so a checkpoint above the
// stream's last sequence means the stream was deleted and created again
// (its sequences restarted), and every change would look stale.
func (r *Runner) forgetEarlierStream(ctx context.Context) error {
	cp, ok := r.sink.(Checkpointer)
	f, ok2 := r.sink.(Forgetter)
	if !ok || !ok2 {
		return nil
	}
	applied, err := cp.Checkpoint(ctx, r.cfg.Name)
	if err != nil || applied == 0 {
		return err
	}
	s, err := r.js.Stream(ctx, r.cfg.Stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", r.cfg.Stream, err)
	}
	if last := s.CachedInfo().State.LastSeq; applied > last {
		r.log.Warn("the stream was created again: its sequences restarted below this function's checkpoint; forgetting the applied sequences so that its changes apply",
			"stream", r.cfg.Stream, "checkpoint", applied, "last_seq", last)
		return f.Forget(ctx, r.cfg.Name)
	}
	return nil
}

// register creates or updates the function's durable consumer, after
// checking that no newer version owns it. It waits for the stream (the
// bridge creates it) and for NATS.
func (r *Runner) register(ctx context.Context) (jetstream.Consumer, error) {
	mine, _ := parseVersion(r.cfg.Version) // Validate checked it
	backoff := platform.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	waiting := false
	for {
		existing, err := r.js.Consumer(ctx, r.cfg.Stream, r.cfg.Name)
		if err == nil {
			theirs := existing.CachedInfo().Config.Metadata[change.MetaVersion]
			if v, perr := parseVersion(theirs); perr == nil && compareVersions(mine, v) < 0 && !r.versionCheckOff {
				return nil, fmt.Errorf("%w: function %q version %s refuses to start because version %s has taken over consumer %s/%s; deploy version %s or newer",
					ErrOlderVersion, r.cfg.Name, r.cfg.Version, theirs, r.cfg.Stream, r.cfg.Name, theirs)
			}
		}
		if err == nil || errors.Is(err, jetstream.ErrConsumerNotFound) {
			cons, cerr := r.js.CreateOrUpdateConsumer(ctx, r.cfg.Stream, jetstream.ConsumerConfig{
				Durable:       r.cfg.Name,
				Description:   "jetsync function " + r.cfg.Name,
				FilterSubject: change.Filter(r.cfg.Prefix),
				DeliverPolicy: jetstream.DeliverAllPolicy,
				AckPolicy:     jetstream.AckExplicitPolicy,
				AckWait:       r.cfg.AckWait,
				MaxAckPending: max(1000, 4*r.cfg.BatchSize),
				Metadata:      map[string]string{change.MetaVersion: r.cfg.Version, change.MetaPrefix: r.cfg.Prefix},
			})
			if cerr == nil {
				return cons, nil
			}
			err = cerr
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			if !waiting {
				r.log.Warn("waiting for the stream; is the bridge running?", "stream", r.cfg.Stream)
				waiting = true
			}
		} else {
			r.log.Warn("cannot register the consumer yet; retrying", "stream", r.cfg.Stream, "err", err)
		}
		if !backoff.Wait(ctx) {
			return nil, ctx.Err()
		}
	}
}

// consumerPoll is how often a running function reads its consumer's info.
const consumerPoll = 2 * time.Second

// watchConsumer reads the consumer's info every consumerPoll until ctx
// ends: it exports the changes waiting (also while writes fail and no batch
// is fetched) and the last verify's result, and stops the function through stop, with ErrOlderVersion,
// when a newer version has taken the consumer over: the older one then
// finishes the batch in hand and exits instead of writing on beside it.
func (r *Runner) watchConsumer(ctx context.Context, cons jetstream.Consumer, stop context.CancelCauseFunc) {
	mine, _ := parseVersion(r.cfg.Version) // Validate checked it
	polls := 0
	var stream jetstream.Stream // looked up once
	t := time.NewTicker(consumerPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		info, err := cons.Info(ctx)
		if err != nil {
			continue // NATS away: the fetcher reports it
		}
		r.m.lag.Set(float64(info.NumPending))
		if stream == nil {
			stream, _ = r.js.Stream(ctx, r.cfg.Stream)
		}
		r.m.lagSeconds.Set(r.oldestUnapplied(ctx, stream, info).Seconds())
		r.exportVerify(ctx)
		if polls++; polls%8 == 1 {
			if n, err := streams.CountDeadLetters(ctx, r.js, r.cfg.Stream, r.cfg.Name); err == nil {
				r.m.dead.Set(float64(n))
			}
		}
		theirs := info.Config.Metadata[change.MetaVersion]
		if v, err := parseVersion(theirs); err == nil && compareVersions(mine, v) < 0 && !r.versionCheckOff {
			err := fmt.Errorf("%w: function %q version %s stops because version %s has taken over consumer %s/%s",
				ErrOlderVersion, r.cfg.Name, r.cfg.Version, theirs, r.cfg.Stream, r.cfg.Name)
			r.log.Error("a newer version took over; finishing the batch in hand and stopping", "err", err)
			stop(err)
			return
		}
	}
}

// oldestUnapplied is the age of the oldest change of the function's prefix
// after the consumer's ack floor (0 when nothing waits): how far the table
// is behind Redis.
func (r *Runner) oldestUnapplied(ctx context.Context, s jetstream.Stream, info *jetstream.ConsumerInfo) time.Duration {
	if s == nil || info.NumPending+uint64(info.NumAckPending) == 0 {
		return 0
	}
	m, err := s.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(change.Filter(r.cfg.Prefix)))
	if err != nil {
		return 0
	}
	return max(0, time.Since(m.Time))
}
