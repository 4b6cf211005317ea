package handlers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge/change"
)

// Processing one batch: decode, order, coalesce, apply, answer, ack.

// process applies one batch of messages and acks every message whose change
// is committed, dead-lettered or superseded. When ctx ends before that, the
// messages are left unacked and JetStream redelivers them. live is false for
// a replay's batches (they do not report the consumer's lag).
func (r *Runner) process(ctx context.Context, msgs []jetstream.Msg, live bool) {
	r.writing.Lock()
	defer r.writing.Unlock()
	var changes []Change
	var held []jetstream.Msg             // the message of each change
	source := map[KeySeq]jetstream.Msg{} // the message of each change, by Change.id
	history := keepsHistory(r.fn) && !r.keyIDs
	replies := map[string]string{} // write-through token -> key
	r.m.batches.Observe(float64(len(msgs)))
	for _, m := range msgs {
		meta, err := m.Metadata()
		if err != nil {
			r.log.Error("message without JetStream metadata; leaving it unacked", "subject", m.Subject(), "err", err)
			continue
		}
		if live {
			r.m.lag.Set(float64(meta.NumPending))
		}
		c, err := decode(m, meta.Sequence.Stream)
		if err == nil && r.cfg.MaxDeliver > 0 && meta.NumDelivered > uint64(r.cfg.MaxDeliver) {
			err = fmt.Errorf("delivered %d times without being acked (JETSYNC_MAX_DELIVER=%d): the function crashed or timed out on it every time", meta.NumDelivered, r.cfg.MaxDeliver)
		}
		if err != nil {
			var cp *Change
			if c.Key != "" {
				cp = &c
			}
			if r.publishDeadLetter(ctx, m, cp, err) != nil {
				return
			}
			continue
		}
		if to := m.Headers().Get(change.HeaderRequeuedFor); to != "" && to != r.cfg.Name {
			continue // another function's requeued dead letter: acked below
		}
		if h := m.Headers().Get(change.HeaderReply); h != "" {
			for _, token := range strings.Split(h, ",") {
				if !change.ValidReplyToken(token) {
					r.log.Warn("write-through reply token is not 1 to 64 letters, digits, _ or -; not answering it", "key", c.Key, "token", capText(token, 80))
					continue
				}
				replies[token] = c.Key
			}
		}
		changes = append(changes, c)
		held = append(held, m)
	}
	lastKeepAlive := time.Now()
	keepAlive := func() {
		if time.Since(lastKeepAlive) > r.cfg.AckWait/3 && !r.keepAliveOff {
			for _, m := range msgs {
				_ = m.InProgress()
			}
			lastKeepAlive = time.Now()
		}
	}
	if err := r.retry(ctx, func(ctx context.Context) error {
		moved, err := r.epochs.order(ctx, r.js, r.cfg.Stream, changes)
		if moved > 0 {
			r.log.Warn("changes stored late by a superseded bridge (a partition delayed them): ordered before the newer bridge's", "changes", moved)
		}
		return err
	}, keepAlive); err != nil {
		return // only ctx ends it: leave the batch for redelivery
	}
	for i, c := range changes {
		source[c.id(history)] = held[i]
	}
	var below []Change
	var mark uint64
	if err := r.retry(ctx, func(ctx context.Context) error {
		var err error
		changes, below, mark, err = r.belowPruned(ctx, changes)
		return err
	}, keepAlive); err != nil {
		return
	}
	for _, c := range below {
		if r.publishDeadLetter(ctx, source[c.id(history)], &c, r.belowPrunedError(c, mark)) != nil {
			return
		}
	}
	refused := map[string]error{} // key -> why its change was dead-lettered
	filed := map[KeySeq]bool{}
	if r.filedOff {
		filed = nil
	}
	a := applier{
		fn: r.fn, sink: r.sink, function: r.cfg.Name, m: r.m, filed: filed, history: history, olderThanKey: map[KeySeq]bool{},
		noIsolation: r.noIsolation,
		retry: func(ctx context.Context, attempt func(context.Context) error) error {
			return r.retry(ctx, attempt, keepAlive)
		},
		deadLetter: func(ctx context.Context, dl DeadLetter) error {
			refused[dl.Change.Key] = dl.Err
			return r.publishDeadLetter(ctx, source[dl.Change.id(history)], &dl.Change, dl.Err)
		},
	}
	if !live && r.replayUnguarded {
		a.function = "" // test hook: a replay without sequence guards
	}
	if r.ackFirst {
		for _, m := range msgs {
			_ = m.Ack()
		}
	}
	if r.answerFirst { // test hook: callers are told "done" before the commit
		if err := r.answer(ctx, replies, refused); err != nil {
			return
		}
		replies = nil
	}
	time.Sleep(r.writePause)
	if !keepsHistory(r.fn) {
		n := len(changes)
		changes = Coalesce(changes)
		r.m.count("coalesced", n-len(changes))
	}
	if err := a.apply(ctx, changes); err != nil {
		return // only ctx ends it: leave the rest for redelivery
	}
	if err := r.answer(ctx, replies, refused); err != nil {
		return
	}
	for _, m := range msgs {
		if err := m.Ack(); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			r.log.Warn("ack failed; the change will be redelivered and applied again", "subject", m.Subject(), "err", err)
		}
	}
}

// decode parses a message into a Change and checks it against its subject.
//
// A change requeued from the dead letters carries the sequence of its first
// publication (change.HeaderOriginalSeq); it keeps that sequence, so that it is
// applied only if nothing newer of its key was applied meanwhile.
func decode(m jetstream.Msg, seq uint64) (Change, error) {
	c, err := change.Decode(m.Data())
	if err != nil {
		return Change{}, err
	}
	order := seq
	if orig := m.Headers().Get(change.HeaderOriginalSeq); orig != "" {
		n, err := strconv.ParseUint(orig, 10, 64)
		if err != nil || n == 0 || n > seq {
			return Change{}, fmt.Errorf("%w: header %s=%q", change.ErrMalformed, change.HeaderOriginalSeq, orig)
		}
		order = n
	}
	prefix, id, err := change.ParseSubject(m.Subject())
	if err != nil {
		return Change{}, err
	}
	if prefix != c.Prefix || id != c.ID {
		return Change{}, fmt.Errorf("%w: subject %q does not match key %q", change.ErrMalformed, m.Subject(), c.Key)
	}
	epoch, err := epochOf(m)
	if err != nil {
		return Change{}, err
	}
	return Change{Change: c, Seq: order, StreamSeq: seq, Subject: m.Subject(), epoch: epoch}, nil
}
