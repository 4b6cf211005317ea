package change

import (
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// Every message header jetsync writes: the one list of them.

// Headers of a change.
const (
	// HeaderReply lists, comma-separated, the write-through tokens a change
	// answers for: the function that commits it publishes "done" (or
	// "failed" with the reason) to jetsync-reply.<token>.
	HeaderReply = "Jetsync-Reply"
	// Fencing of bridge generations. Every bridge that becomes active
	// under an HA lease first publishes an epoch marker on
	// EpochSubject(lease); its changes carry the marker's stream sequence
	// (HeaderEpoch) and subject (HeaderEpochSubject). A change stored after
	// a newer marker of its subject was published by a superseded bridge (a
	// partition delayed it): functions order it before everything that
	// newer bridge published.
	HeaderEpoch        = "Jetsync-Epoch"
	HeaderEpochSubject = "Jetsync-Epoch-Subject"
	// HeaderOriginalSeq is the order of a change that is not its own
	// stream sequence (stored late by a superseded bridge, or requeued); a
	// requeued change keeps it, so that it is applied only if nothing newer
	// of its key was. HeaderRequeuedFor names the one function a requeued
	// change is for (other functions of the prefix ack it unapplied).
	HeaderOriginalSeq = "Jetsync-Original-Seq"
	HeaderRequeuedFor = "Jetsync-Requeued-For"
)

// BridgeFunction is the function name under which the bridge files its own
// dead letters (keys it cannot turn into a change); no function may take it.
const BridgeFunction = "bridge"

// Headers of a dead letter (a message on jetsync-dlq.<function>.…), written
// through DeadLetter by the function runtime and the bridge, and read back
// by `jetsync dlq` and the runtime.
const (
	// HeaderFunction and HeaderVersion name who filed it ("bridge" for keys
	// the bridge could not read).
	HeaderFunction = "Jetsync-Function"
	HeaderVersion  = "Jetsync-Version"
	// HeaderErrorClass is "permanent"; HeaderError the reason, capped.
	HeaderErrorClass = "Jetsync-Error-Class"
	HeaderError      = "Jetsync-Error"
	// HeaderSubject and HeaderStreamSeq are where the change was stored;
	// HeaderDelivered how often it had been delivered.
	HeaderSubject   = "Jetsync-Subject"
	HeaderStreamSeq = "Jetsync-Stream-Seq"
	HeaderDelivered = "Jetsync-Delivered"
	// HeaderTime is when it was filed (RFC 3339, UTC).
	HeaderTime = "Jetsync-Time"
	// HeaderKey and HeaderValueDigest: the bridge's dead letters carry the
	// key and a digest of the value it read, to file a poison key once.
	HeaderKey         = "Jetsync-Key"
	HeaderValueDigest = "Jetsync-Value-Digest"
	// HeaderTruncated is the original size of a body cut to fit the
	// server's max payload.
	HeaderTruncated = "Jetsync-Truncated"
)

// DeadLetter is what a dead letter's headers say: who filed it, why, and
// where the change it carries was stored. SetHeaders writes it,
// ParseDeadLetter reads it back.
type DeadLetter struct {
	Function, Version string
	Reason            string
	// Subject and StreamSeq: where the change was stored (none for the
	// bridge's, whose body is the key); OriginalSeq its order when that is
	// not StreamSeq (0 otherwise).
	Subject                string
	StreamSeq, OriginalSeq uint64
	Delivered              uint64
	Time                   time.Time
	// Key and ValueDigest: the key the bridge could not read, and a digest
	// of its value ("" when none was read).
	Key, ValueDigest string
	// Truncated is the original size of a body cut to fit (0: not cut).
	Truncated int
}

// SetHeaders writes d into h, leaving out what d does not have.
func (d DeadLetter) SetHeaders(h nats.Header) {
	set := func(k, v string) {
		if v != "" {
			h.Set(k, v)
		}
	}
	num := func(k string, v uint64) {
		if v != 0 {
			h.Set(k, strconv.FormatUint(v, 10))
		}
	}
	set(HeaderFunction, d.Function)
	set(HeaderVersion, d.Version)
	h.Set(HeaderErrorClass, "permanent")
	set(HeaderError, d.Reason)
	set(HeaderSubject, d.Subject)
	num(HeaderStreamSeq, d.StreamSeq)
	num(HeaderOriginalSeq, d.OriginalSeq)
	num(HeaderDelivered, d.Delivered)
	if !d.Time.IsZero() {
		h.Set(HeaderTime, d.Time.UTC().Format(time.RFC3339Nano))
	}
	set(HeaderKey, d.Key)
	set(HeaderValueDigest, d.ValueDigest)
	if d.Truncated != 0 {
		h.Set(HeaderTruncated, strconv.Itoa(d.Truncated))
	}
}

// ParseDeadLetter reads a dead letter's headers; what is missing or
// unreadable stays zero.
func ParseDeadLetter(h nats.Header) DeadLetter {
	num := func(k string) uint64 {
		n, _ := strconv.ParseUint(h.Get(k), 10, 64)
		return n
	}
	d := DeadLetter{Function: h.Get(HeaderFunction), Version: h.Get(HeaderVersion), Reason: h.Get(HeaderError),
		Subject: h.Get(HeaderSubject), StreamSeq: num(HeaderStreamSeq), OriginalSeq: num(HeaderOriginalSeq),
		Delivered: num(HeaderDelivered), Key: h.Get(HeaderKey), ValueDigest: h.Get(HeaderValueDigest)}
	d.Time, _ = time.Parse(time.RFC3339Nano, h.Get(HeaderTime))
	d.Truncated, _ = strconv.Atoi(h.Get(HeaderTruncated))
	return d
}

// Order is the order the dead letter's change was published with: its
// original sequence, or its stream sequence (0 for the bridge's).
func (d DeadLetter) Order() uint64 {
	if d.OriginalSeq != 0 {
		return d.OriginalSeq
	}
	return d.StreamSeq
}
