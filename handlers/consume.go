package handlers

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/infra/platform"
)

// Consuming: the fetcher collects batches and keeps the next one in
// progress while the current one is written.

// fetchAhead collects batches and hands them to out one at a time until
// ctx ends, then closes out. It fetches the next batch while the last one
// is written, so the function holds at most two batches; the next one is
// kept in progress (every AckWait/3) while it waits, so JetStream does not
// redeliver it, and when ctx ends first it is handed back (NAK) for
// redelivery at once.
func (r *Runner) fetchAhead(ctx context.Context, cons jetstream.Consumer, out chan<- []jetstream.Msg) {
	defer close(out)
	backoff := platform.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for ctx.Err() == nil {
		msgs, err := r.collect(ctx, cons)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("fetch failed; retrying", "err", err)
				backoff.Wait(ctx)
			}
			continue
		}
		backoff.Reset()
		if len(msgs) == 0 {
			continue
		}
		r.epochs.prefetch(ctx, r.js, r.cfg.Stream, msgs)
		if !r.handOver(ctx, msgs, out) {
			for _, m := range msgs {
				_ = m.Nak()
			}
			return
		}
	}
}

// handOver sends msgs on out, keeping them in progress meanwhile; false
// when ctx ends first.
func (r *Runner) handOver(ctx context.Context, msgs []jetstream.Msg, out chan<- []jetstream.Msg) bool {
	tick := time.NewTicker(r.cfg.AckWait / 3)
	defer tick.Stop()
	for {
		select {
		case out <- msgs:
			return true
		case <-tick.C:
			if r.keepAliveOff {
				continue
			}
			for _, m := range msgs {
				_ = m.InProgress()
			}
		case <-ctx.Done():
			return false
		}
	}
}

// collect fetches the next batch: it waits for a first change, then takes
// up to a full batch (BatchSize changes, FetchMaxBytes bytes) of what has
// arrived or arrives within BatchWait; a full batch returns at once.
func (r *Runner) collect(ctx context.Context, cons jetstream.Consumer) ([]jetstream.Msg, error) {
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	first, err := cons.Fetch(1, jetstream.FetchContext(wait))
	if err != nil {
		return nil, err
	}
	msgs := drain(first, nil)
	if len(msgs) == 0 || r.cfg.BatchSize == 1 {
		return msgs, nil
	}
	room := r.cfg.FetchMaxBytes - msgSize(msgs[0])
	if room <= 0 {
		return msgs, nil
	}
	// FetchNoWait takes no byte bound: a short wait instead.
	more, err := cons.Fetch(r.cfg.BatchSize-1, jetstream.FetchMaxBytes(room), jetstream.FetchMaxWait(max(r.cfg.BatchWait, time.Millisecond)))
	if err != nil {
		return msgs, nil // process what we have; the next fetch reports the trouble
	}
	return drain(more, msgs), nil
}

// msgSize is a message's size as FetchMaxBytes counts it (near enough:
// subject, reply, headers and data).
func msgSize(m jetstream.Msg) int {
	return len(m.Subject()) + len(m.Reply()) + len(m.Data()) + headerBytes(m.Headers())
}

// headerBytes is about what h takes on the wire ("Key: value\r\n" each).
func headerBytes(h nats.Header) int {
	n := 0
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

func drain(b jetstream.MessageBatch, into []jetstream.Msg) []jetstream.Msg {
	for m := range b.Messages() {
		into = append(into, m)
	}
	return into
}
