package handlers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge/change"
)

// Fencing of bridge generations (change.HeaderEpoch). A change published by
// a bridge under an HA lease carries the stream sequence of its
// activation's epoch marker. When another marker of the same subject is
// stored between that marker and the change, a newer bridge had taken over
// before the change was stored: a partition delayed it. Its order (Seq)
// becomes the sequence of the first newer marker, so it counts as newer than
// everything its own bridge stored in time and older than everything the
// newer bridge published (those sequences are all above its marker). The
// per-key guards then refuse it wherever a newer generation has written its
// key, and apply it where none has (a delete the newer bridge's resync could
// not see). This holds on a replicated stream, where the stream itself
// cannot fence (bridge/fence.go).

// epochs remembers, per epoch, what the stream has told about the markers
// after it. Markers are rare (one per activation) and never move, so one
// lookup per batch and epoch is all it costs, and the fetcher makes it for
// the next batch while the current one is written (prefetch).
type epochs struct {
	mu     sync.Mutex
	known  map[epochKey]*epochState
	stream jetstream.Stream // the change stream, once looked up
	// off is a test hook: order changes by their stream sequence alone.
	off bool
}

type epochKey struct {
	subject string
	seq     uint64
}

type epochState struct {
	next    uint64 // the first marker after this one; 0 while none is known
	checked uint64 // no marker is stored between this one and checked
}

// epochOf reads a change's epoch headers (zero: published without one).
func epochOf(m jetstream.Msg) (epochKey, error) {
	h := m.Headers()
	v, subject := h.Get(change.HeaderEpoch), h.Get(change.HeaderEpochSubject)
	if v == "" && subject == "" {
		return epochKey{}, nil
	}
	seq, err := strconv.ParseUint(v, 10, 64)
	if err != nil || seq == 0 || subject == "" {
		return epochKey{}, fmt.Errorf("%w: headers %s=%q %s=%q", change.ErrMalformed, change.HeaderEpoch, v, change.HeaderEpochSubject, subject)
	}
	return epochKey{subject: subject, seq: seq}, nil
}

// order moves every late change (see above) to the sequence of the marker
// that superseded it, asking the stream where it knows too little. It
// returns how many changes it moved, or an error of the stream (transient).
func (e *epochs) order(ctx context.Context, js jetstream.JetStream, stream string, changes []Change) (int, error) {
	if e.off {
		return 0, nil
	}
	top := map[epochKey]uint64{} // the highest change sequence per epoch
	for _, c := range changes {
		if c.epoch.seq != 0 && c.Seq > c.epoch.seq {
			top[c.epoch] = max(top[c.epoch], c.Seq)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.lookup(ctx, js, stream, top); err != nil {
		return 0, err
	}
	moved := 0
	for i, c := range changes {
		if st := e.known[c.epoch]; c.epoch.seq != 0 && st != nil && st.next != 0 && c.Seq > st.next {
			changes[i].Seq = st.next
			moved++
		}
	}
	return moved, nil
}

// prefetch asks the stream what order will need to know about msgs' epochs,
// so that the fetcher does it while the batch before is written. Errors are
// left to order, which asks again.
func (e *epochs) prefetch(ctx context.Context, js jetstream.JetStream, stream string, msgs []jetstream.Msg) {
	if e.off {
		return
	}
	top := map[epochKey]uint64{}
	for _, m := range msgs {
		k, err := epochOf(m)
		meta, merr := m.Metadata()
		if err != nil || merr != nil || k.seq == 0 || meta.Sequence.Stream <= k.seq {
			continue
		}
		// The stream sequence: at or above the change's order (lower when
		// requeued), so what it covers covers the order too.
		top[k] = max(top[k], meta.Sequence.Stream)
	}
	if len(top) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_ = e.lookup(ctx, js, stream, top)
}

// lookup makes sure that, for each epoch of top, the first marker after it
// is known or none is stored up to the highest sequence top gives it.
// Callers hold mu.
func (e *epochs) lookup(ctx context.Context, js jetstream.JetStream, stream string, top map[epochKey]uint64) error {
	if e.known == nil {
		e.known = map[epochKey]*epochState{}
	}
	for k, highest := range top {
		st := e.known[k]
		if st == nil {
			st = &epochState{checked: k.seq}
			e.known[k] = st
		}
		if st.next != 0 || highest <= st.checked {
			continue
		}
		if e.stream == nil {
			s, err := js.Stream(ctx, stream)
			if err != nil {
				return fmt.Errorf("stream %s: %w", stream, err)
			}
			e.stream = s
		}
		// jetsync's stream has no direct get, so the stream leader answers:
		// it stored every change this batch holds.
		m, err := e.stream.GetMsg(ctx, k.seq+1, jetstream.WithGetMsgSubject(k.subject))
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			st.checked = highest
		case err != nil:
			return fmt.Errorf("look up the epoch marker after %s@%d: %w", k.subject, k.seq, err)
		default:
			st.next = m.Sequence
		}
	}
	return nil
}
