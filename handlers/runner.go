package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/infra/platform"
)

// ErrOlderVersion is returned by Run when a newer version of the function
// has taken over its consumer.
var ErrOlderVersion = errors.New("a newer version of this function owns its consumer")

// metaVersion is the consumer metadata key that records the function version.
const metaVersion = "jetsync_version"

// Runner runs one function.
type Runner struct {
	cfg  Config
	fn   Function
	sink Sink
	log  *slog.Logger
	js   jetstream.JetStream
	reg  *prometheus.Registry
	m    *metrics
	// degraded is true while writes fail transiently; logged on change only.
	degraded atomic.Bool
	// consuming is true once the consumer is registered.
	consuming atomic.Bool
	// replyStream is true once the write-through reply stream is ensured
	// (only touched by process, under writing).
	replyStream bool
	// replicas is the change stream's replica count, which the support
	// streams this runner creates get too.
	replicas int
	// writing is held while a batch (live or replayed) is applied, and by
	// the truncation before a replay, so that no write falls in between.
	writing sync.Mutex
	// epochs orders the changes of superseded bridges (fence.go).
	epochs epochs
	// pruneIgnoresDeadLetters and pruneMarkOff are test hooks: the pruning
	// horizon leaves the dead letters out, and changes below the pruning
	// mark are applied as any other (prune.go).
	pruneIgnoresDeadLetters, pruneMarkOff bool
	// keepAliveOff is a test hook: held messages are not kept in progress.
	keepAliveOff bool
	// keyIDs is a test hook: a history function's changes are told apart
	// by key and order, as for any function (Change.id).
	keyIDs bool
	// writePause and ackFirst are test hooks of a testhooks build
	// (testhooks.go): a pause before each batch is written, and acks before
	// it.
	writePause time.Duration
	ackFirst   bool
}

// envHooks, set in a testhooks build, applies JETSYNC_TEST_HOOKS to a new
// runner.
var envHooks func(*Runner) error

// New returns a runner of fn that writes through sink. The name and version
// come from cfg or, where cfg leaves them empty, from fn when it is Named. It
// validates cfg.
func New(cfg Config, fn Function, sink Sink, log *slog.Logger) (*Runner, error) {
	cfg = cfg.withIdentity(fn)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	reg := platform.NewRegistry()
	r := &Runner{cfg: cfg, fn: fn, sink: sink, log: log.With("function", cfg.Name), reg: reg, m: newMetrics(reg, cfg.Name)}
	if envHooks != nil {
		if err := envHooks(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Registry holds the function's metrics (served on JETSYNC_HTTP_ADDR).
func (r *Runner) Registry() *prometheus.Registry { return r.reg }

// Ready reports why the function is not ready, or nil: it is ready when it
// consumes, is connected to NATS, and its writes succeed.
func (r *Runner) Ready() error {
	switch {
	case !r.consuming.Load():
		return errors.New("consumer not registered yet")
	case r.js != nil && !r.js.Conn().IsConnected():
		return errors.New("not connected to NATS")
	case r.degraded.Load():
		return errors.New("writes to the target are failing and being retried")
	}
	return nil
}

// Run consumes and applies changes until ctx is done, then finishes the batch
// in hand (for at most ShutdownGrace), closes the sink and the connection.
// It returns an error only when the function cannot start.
func (r *Runner) Run(ctx context.Context) error {
	defer r.sink.Close()
	stopHTTP, err := r.cfg.HTTPConfig.Serve(r.reg, r.Ready, r.log)
	if err != nil {
		return err
	}
	defer stopHTTP()
	nc, err := r.cfg.NATS.Connect("jetsync-function-"+r.cfg.Name, r.log)
	if err != nil {
		return err
	}
	defer func() {
		_ = nc.Flush() // the last acks
		nc.Close()
	}()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	r.js = js
	cons, err := r.register(ctx)
	if err != nil {
		return err
	}
	r.replicas = platform.StreamReplicas(ctx, js, r.cfg.Stream)
	if _, err := platform.EnsureDeadLetterStream(ctx, js, r.cfg.Stream, r.replicas); err != nil {
		return err
	}
	if err := r.forgetEarlierStream(ctx); err != nil {
		return err
	}
	r.consuming.Store(true)
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	context.AfterFunc(ctx, func() {
		t := time.AfterFunc(r.cfg.ShutdownGrace, cancelWork)
		context.AfterFunc(work, func() { t.Stop() })
	})

	r.log.Info("function started", "version", r.cfg.Version, "prefix", r.cfg.Prefix, "stream", r.cfg.Stream)
	var replays sync.WaitGroup
	replays.Go(func() { r.watchReplays(ctx, work) })
	replays.Go(func() { r.pruneLoop(ctx) })
	defer replays.Wait()
	// The next batch is fetched while this one is written.
	batches := make(chan []jetstream.Msg)
	go r.fetchAhead(ctx, cons, batches)
	for msgs := range batches {
		// A batch in hand is finished even during shutdown, within the grace.
		r.process(work, msgs, true)
	}
	r.log.Info("function stopped")
	return nil
}

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
			for _, m := range msgs {
				if !r.keepAliveOff {
					_ = m.InProgress()
				}
			}
		case <-ctx.Done():
			return false
		}
	}
}

// forgetEarlierStream drops the sink's sequence guards when they come from
// an earlier stream: sequences never go back, so a checkpoint above the
// stream's last sequence means the stream was deleted and created again
// (its sequences restarted), and every change would look stale.
func (r *Runner) forgetEarlierStream(ctx context.Context) error {
	cp, ok := r.sink.(interface {
		Checkpoint(ctx context.Context, function string) (uint64, error)
	})
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
			theirs := existing.CachedInfo().Config.Metadata[metaVersion]
			if v, perr := parseVersion(theirs); perr == nil && compareVersions(mine, v) < 0 {
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
				Metadata:      map[string]string{metaVersion: r.cfg.Version, "jetsync_prefix": r.cfg.Prefix},
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
	n := len(m.Subject()) + len(m.Reply()) + len(m.Data())
	for k, vs := range m.Headers() {
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
	a := applier{
		fn: r.fn, sink: r.sink, function: r.cfg.Name, m: r.m, filed: map[KeySeq]bool{}, history: history, olderThanKey: map[KeySeq]bool{},
		retry: func(ctx context.Context, attempt func(context.Context) error) error {
			return r.retry(ctx, attempt, keepAlive)
		},
		deadLetter: func(ctx context.Context, dl DeadLetter) error {
			refused[dl.Change.Key] = dl.Err
			return r.publishDeadLetter(ctx, source[dl.Change.id(history)], &dl.Change, dl.Err)
		},
	}
	if r.ackFirst {
		for _, m := range msgs {
			_ = m.Ack()
		}
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

// retry runs attempt until it returns nil or a permanent error, with capped,
// jittered backoff between attempts; keepAlive is called at least every
// AckWait/3 while it waits and while an attempt runs. An attempt gets
// 2/3 of AckWait: a target that stops answering without closing the
// connection (a black-holed network) fails the attempt, which is retried,
// instead of hanging it; one still running after AckWait/3 marks the
// function degraded. It returns ctx's error when ctx ends first.
func (r *Runner) retry(ctx context.Context, attempt func(context.Context) error, keepAlive func()) error {
	backoff := platform.Backoff{Min: 100 * time.Millisecond, Max: r.cfg.RetryMax}
	for {
		err := r.bounded(ctx, attempt, keepAlive)
		if err == nil || IsPermanent(err) {
			r.setDegraded(false, nil)
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.setDegraded(true, err)
		r.m.failed("transient")
		keepAlive()
		// Sleep in steps short enough to keep the messages in progress.
		deadline := time.Now().Add(backoff.Next())
		for time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(min(time.Until(deadline), r.cfg.AckWait/3)):
			}
			keepAlive()
		}
	}
}

// bounded runs one attempt with a deadline of 2/3 AckWait, keeping the
// messages in progress and reporting a slow attempt as degraded.
func (r *Runner) bounded(ctx context.Context, attempt func(context.Context) error, keepAlive func()) error {
	actx, cancel := context.WithTimeout(ctx, 2*r.cfg.AckWait/3)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- attempt(actx) }()
	tick := time.NewTicker(r.cfg.AckWait / 3)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case err := <-done:
			if err != nil && actx.Err() != nil && ctx.Err() == nil {
				err = fmt.Errorf("write did not finish within %s (the target stopped answering?): %w", 2*r.cfg.AckWait/3, err)
			}
			return err
		case <-tick.C:
			keepAlive()
			r.setDegraded(true, fmt.Errorf("a write has been running for %s", time.Since(start).Round(time.Second)))
		}
	}
}

func (r *Runner) setDegraded(degraded bool, err error) {
	if r.degraded.Swap(degraded) == degraded {
		return
	}
	r.m.degraded.Set(map[bool]float64{false: 0, true: 1}[degraded])
	if degraded {
		r.log.Warn("writes failing; retrying with backoff until the target is back", "err", err)
	} else {
		r.log.Info("writes succeed again")
	}
}

// publishDeadLetter publishes m with its reason to the dead-letter stream
// and acks m. It retries until the dead letter is stored; it fails only when
// ctx ends first.
func (r *Runner) publishDeadLetter(ctx context.Context, m jetstream.Msg, c *Change, reason error) error {
	meta, _ := m.Metadata()
	var seq, delivered uint64
	if meta != nil {
		seq, delivered = meta.Sequence.Stream, meta.NumDelivered
	}
	dl := nats.NewMsg(platform.DeadLetterRoot + "." + r.cfg.Name + "." + trimRoot(m.Subject()))
	dl.Data = m.Data()
	dl.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s-%d", r.cfg.Name, seq))
	dl.Header.Set(change.HeaderFunction, r.cfg.Name)
	dl.Header.Set(change.HeaderVersion, r.cfg.Version)
	dl.Header.Set(change.HeaderErrorClass, "permanent")
	dl.Header.Set(change.HeaderError, capText(reason.Error(), maxErrorText))
	dl.Header.Set(change.HeaderSubject, m.Subject())
	dl.Header.Set(change.HeaderStreamSeq, fmt.Sprint(seq))
	if c != nil && c.Seq != seq {
		dl.Header.Set(change.HeaderOriginalSeq, fmt.Sprint(c.Seq))
	}
	dl.Header.Set(change.HeaderDelivered, fmt.Sprint(delivered))
	dl.Header.Set(change.HeaderTime, time.Now().UTC().Format(time.RFC3339Nano))
	fitPayload(dl, r.js.Conn().MaxPayload())
	log := r.log.With("subject", m.Subject(), "seq", seq)
	if c != nil {
		log = log.With("key", c.Key, "op", string(c.Op))
	}
	backoff := platform.Backoff{Min: 100 * time.Millisecond, Max: r.cfg.RetryMax}
	for {
		_, err := r.js.PublishMsg(ctx, dl)
		if err == nil {
			break
		}
		log.Warn("dead letter not stored yet; retrying", "err", err)
		if !backoff.Wait(ctx) {
			return ctx.Err()
		}
	}
	log.Error("change dead-lettered", "err", reason)
	r.m.count("dead_lettered", 1)
	if err := m.Ack(); err != nil {
		log.Warn("ack of dead-lettered change failed", "err", err)
	}
	return nil
}

// maxErrorText caps the error text a dead letter or an answer carries.
const maxErrorText = 2048

// capText cuts s to at most n bytes (on a rune boundary), marking the cut.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("… (cut)")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "… (cut)"
}

// fitPayload cuts a dead letter's body so that the message fits the
// server's max_payload: the change it carried did, but the headers it gains
// may not leave room. The original size is kept in Jetsync-Truncated.
func fitPayload(m *nats.Msg, maxPayload int64) {
	size := int64(len("NATS/1.0\r\n\r\n") + len(m.Data))
	for k, vs := range m.Header {
		for _, v := range vs {
			size += int64(len(k) + len(v) + 4)
		}
	}
	const margin = 256 // the Jetsync-Truncated header and the protocol line
	if maxPayload <= 0 || size+margin <= maxPayload {
		return
	}
	keep := max(0, int64(len(m.Data))-(size+margin-maxPayload))
	m.Header.Set(change.HeaderTruncated, strconv.Itoa(len(m.Data)))
	m.Data = m.Data[:keep]
}

// answer tells write-through callers, through the bridge, that their change
// is committed ("done") or was refused ("failed" and the reason). It runs
// after the commit and before the acks, so a crash in between answers again
// after redelivery (the redelivered change is then stale, hence done).
func (r *Runner) answer(ctx context.Context, replies map[string]string, refused map[string]error) error {
	if len(replies) == 0 {
		return nil
	}
	if !r.replyStream {
		if _, err := platform.EnsureReplyStream(ctx, r.js, r.cfg.Stream, r.replicas); err != nil {
			return err
		}
		r.replyStream = true
	}
	backoff := platform.Backoff{Min: 100 * time.Millisecond, Max: r.cfg.RetryMax}
	for token, key := range replies {
		answer := map[string]string{"status": "done", "function": r.cfg.Name}
		if err := refused[key]; err != nil {
			answer["status"], answer["error"] = "failed", capText(err.Error(), maxErrorText)
		}
		body, _ := json.Marshal(answer)
		for {
			_, err := r.js.Publish(ctx, platform.ReplyRoot+"."+token, body)
			if err == nil {
				break
			}
			if errors.Is(err, nats.ErrBadSubject) || errors.Is(err, nats.ErrMaxPayload) {
				r.log.Error("write-through answer can never be stored; dropping it (the caller times out)", "key", key, "err", err)
				break
			}
			r.log.Warn("write-through answer not stored yet; retrying", "key", key, "err", err)
			if !backoff.Wait(ctx) {
				return ctx.Err()
			}
		}
	}
	return nil
}

// trimRoot drops the leading "jetsync." of a change subject, keeping the
// rest as it is (a malformed subject still makes a valid dead-letter subject).
func trimRoot(subject string) string {
	if len(subject) > len(change.Root)+1 && subject[:len(change.Root)+1] == change.Root+"." {
		return subject[len(change.Root)+1:]
	}
	return "unknown"
}
