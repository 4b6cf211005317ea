package handlers

import (
	"context"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/bridge/streams"
	"github.com/jetsync/jetsync/infra/platform"
)

// Dead letters: what the runtime files for a change it cannot apply.

// publishDeadLetter publishes m with its reason to the dead-letter stream
// and acks m. It retries until the dead letter is stored; it fails only when
// ctx ends first.
func (r *Runner) publishDeadLetter(ctx context.Context, m jetstream.Msg, c *Change, reason error) error {
	meta, _ := m.Metadata()
	var seq, delivered uint64
	if meta != nil {
		seq, delivered = meta.Sequence.Stream, meta.NumDelivered
	}
	dl := nats.NewMsg(streams.DeadLetterRoot + "." + r.cfg.Name + "." + trimRoot(m.Subject()))
	dl.Data = m.Data()
	dl.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s-%d", r.cfg.Name, seq))
	d := change.DeadLetter{Function: r.cfg.Name, Version: r.cfg.Version, Reason: capText(reason.Error(), maxErrorText),
		Subject: m.Subject(), StreamSeq: seq, Delivered: delivered, Time: time.Now()}
	if c != nil && c.Seq != seq {
		d.OriginalSeq = c.Seq
	}
	d.SetHeaders(dl.Header)
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
	size := int64(len("NATS/1.0\r\n\r\n") + len(m.Data) + headerBytes(m.Header))
	const margin = 256 // the Jetsync-Truncated header and the protocol line
	if maxPayload <= 0 || size+margin <= maxPayload {
		return
	}
	keep := max(0, int64(len(m.Data))-(size+margin-maxPayload))
	m.Header.Set(change.HeaderTruncated, strconv.Itoa(len(m.Data)))
	m.Data = m.Data[:keep]
}
