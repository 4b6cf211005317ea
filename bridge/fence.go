package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/infra/platform"
)

// Fencing. A bridge cut from NATS by a partition may have publishes on the
// wire that are stored after the partition heals — after the newer states
// the bridge that took its lease over has published. So every bridge that
// becomes active first publishes an epoch marker on change.EpochSubject(lease)
// and every change it publishes carries that marker (change.HeaderEpoch).
// Two fences use it:
//
//   - in the functions, always: a change stored after a newer marker than its
//     own is ordered before everything the newer bridge published (handlers'
//     fencing), so its older state never wins;
//   - in the stream, on a single-replica stream (nats-server 2.11+): every
//     change also expects its marker to be the subject's last message
//     (Nats-Expected-Last-Subject-Sequence with ...-Subject). Once a newer
//     bridge has marked, the stream refuses every late publish of the old
//     one, which then steps down. A refusal seen by a bridge that still holds
//     its lease means its marker is gone (aged out, purged): it marks again.
//     A replicated stream lets one message at a time carry an expected
//     sequence of a given subject (the others are refused with
//     JSErrCodeStreamWrongLastSequenceConstant), which would serialize the
//     bridge, so there only the functions fence.

// fence is the epoch of the current activation.
type fence struct {
	subject string
	seq     uint64 // the marker's stream sequence
	// inStream: changes also expect the marker to be the subject's last
	// message (a single-replica stream on nats-server 2.11+).
	inStream bool
	lease    *lease
	stepDown func()
}

// minFenceServer is the first nats-server that checks an expected sequence
// on another subject.
var minFenceServer = [2]int{2, 11}

// startFence publishes the epoch marker of an activation under lease l,
// retrying until it is stored or ctx ends; stepDown ends the activation.
func (b *Bridge) startFence(ctx context.Context, l *lease, stepDown func()) {
	if b.cfg.hooks.noFence {
		return
	}
	f := &fence{subject: change.EpochSubject(l.key), lease: l, stepDown: stepDown, inStream: true}
	if v := b.nc.ConnectedServerVersion(); !platform.AtLeast(v, minFenceServer) {
		b.log.Info("nats-server before 2.11: the functions fence bridge generations, the stream does not", "server", v)
		f.inStream = false
	}
	if b.cfg.Replicas > 1 {
		b.log.Info("a replicated stream: the functions fence bridge generations, the stream does not", "replicas", b.cfg.Replicas)
		f.inStream = false
	}
	backoff := platform.Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}
	for {
		seq, err := b.mark(ctx, f)
		if err == nil {
			f.seq = seq
			b.fence.Store(f)
			return
		}
		b.log.Warn("cannot publish the epoch marker yet; retrying", "subject", f.subject, "err", err)
		if !backoff.Wait(ctx) {
			return
		}
	}
}

// mark publishes an epoch marker and returns its sequence.
func (b *Bridge) mark(ctx context.Context, f *fence) (uint64, error) {
	body, _ := json.Marshal(map[string]any{"holder": f.lease.id, "revision": f.lease.rev, "time": time.Now().UTC()})
	m := nats.NewMsg(f.subject)
	m.Data = body
	ctx, cancel := context.WithTimeout(ctx, b.cfg.PublishTimeout)
	defer cancel()
	ack, err := b.js.PublishMsg(ctx, m)
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// fenced sets the epoch headers on a change message.
func (b *Bridge) fenced(m *nats.Msg) {
	f := b.fence.Load()
	if f == nil || !isChange(m) {
		return
	}
	seq := strconv.FormatUint(f.seq, 10)
	m.Header.Set(change.HeaderEpoch, seq)
	m.Header.Set(change.HeaderEpochSubject, f.subject)
	if f.inStream {
		m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, f.subject)
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, seq)
	}
}

func isChange(m *nats.Msg) bool { return strings.HasPrefix(m.Subject, change.Root+".") }

// wrongEpoch reports whether a publish was refused because its marker is
// not the last one.
func wrongEpoch(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// refence reacts to a publish refused for its epoch: when another bridge
// holds the lease now, this one steps down (false: publish nothing more);
// when this one still does, its marker was lost and it marks again (true:
// send again with the new epoch).
func (b *Bridge) refence(ctx context.Context, used uint64) bool {
	b.refenceMu.Lock()
	defer b.refenceMu.Unlock()
	f := b.fence.Load()
	if f == nil {
		return false
	}
	if f.seq != used {
		return true // another worker marked again already
	}
	e, err := f.lease.kv.Get(ctx, f.lease.key)
	if err != nil || string(e.Value()) != f.lease.id {
		b.log.Warn("a newer bridge has marked its epoch; stepping down", "lease", f.lease.key, "err", err)
		f.stepDown()
		return false
	}
	seq, err := b.mark(ctx, f)
	if err != nil {
		return true // retried with backoff; the marker is tried again then
	}
	b.log.Warn("the epoch marker was gone (aged out or purged); marked again", "subject", f.subject, "seq", seq)
	b.fence.Store(&fence{subject: f.subject, seq: seq, lease: f.lease, stepDown: f.stepDown, inStream: f.inStream})
	return true
}
