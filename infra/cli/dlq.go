package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/bridge/streams"
)

// dlq runs the dead-letter commands of one function.
type dlq struct {
	js       jetstream.JetStream
	stream   string
	function string
	out      io.Writer
}

// deadLetter is one dead letter as the commands show it.
type deadLetter struct {
	Seq         uint64            `json:"seq"`
	Time        time.Time         `json:"time"`
	Key         string            `json:"key"`
	Reason      string            `json:"reason"`
	Subject     string            `json:"subject"`
	OriginalSeq uint64            `json:"original_seq,omitempty"`
	Delivered   string            `json:"delivered,omitempty"`
	Version     string            `json:"version,omitempty"`
	Headers     map[string]string `json:"-"`
	Data        []byte            `json:"-"`
}

func (d dlq) filter() string { return streams.DeadLetterFilter(d.function) }

func (d dlq) deadLetterStream(ctx context.Context) (jetstream.Stream, error) {
	name := streams.DeadLetterStream(d.stream)
	s, err := d.js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("%w: stream %s does not exist (no function or bridge has run on stream %s yet)", errNotFound, name, d.stream)
	}
	return s, err
}

func toDeadLetter(seq uint64, subject string, h nats.Header, data []byte, stored time.Time) deadLetter {
	d := change.ParseDeadLetter(h)
	dl := deadLetter{Seq: seq, Subject: d.Subject, Reason: d.Reason, Version: d.Version, OriginalSeq: d.Order(),
		Headers: map[string]string{}, Data: data, Time: stored, Key: d.Key}
	if d.Delivered != 0 {
		dl.Delivered = strconv.FormatUint(d.Delivered, 10)
	}
	if !d.Time.IsZero() {
		dl.Time = d.Time
	}
	for k := range h {
		dl.Headers[k] = h.Get(k)
	}
	if dl.Subject == "" {
		dl.Subject = subject // the bridge's: the key is in the headers
	}
	if dl.Key == "" {
		if c, err := change.Decode(data); err == nil {
			dl.Key = c.Key
		} else if prefix, id, err := change.ParseSubject(dl.Subject); err == nil {
			dl.Key = prefix + ":" + id
		}
	}
	return dl
}

// read returns every dead letter of the function, oldest first.
func (d dlq) read(ctx context.Context) ([]deadLetter, error) {
	s, err := d.deadLetterStream(ctx)
	if err != nil {
		return nil, err
	}
	var out []deadLetter
	err = streams.EachDeadLetter(ctx, s, d.function, false, func(m jetstream.Msg) error {
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		out = append(out, toDeadLetter(meta.Sequence.Stream, m.Subject(), m.Headers(), m.Data(), meta.Timestamp))
		return nil
	})
	return out, err
}

func (d dlq) list(ctx context.Context, asJSON bool, limit int) error {
	dls, err := d.read(ctx)
	if err != nil {
		return err
	}
	total := len(dls)
	if limit > 0 && len(dls) > limit {
		dls = dls[:limit]
	}
	if asJSON {
		if dls == nil {
			dls = []deadLetter{}
		}
		enc := json.NewEncoder(d.out)
		enc.SetIndent("", "  ")
		return enc.Encode(dls)
	}
	if len(dls) == 0 {
		fmt.Fprintf(d.out, "no dead letters for %s\n", d.function)
		return nil
	}
	tw := tabwriter.NewWriter(d.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tKEY\tREASON")
	for _, dl := range dls {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", dl.Seq, dl.Time.UTC().Format(time.DateTime), dl.Key, shorten(dl.Reason, 100))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(dls) < total {
		fmt.Fprintf(d.out, "%d of %d dead letters for %s (--limit %d)\n", len(dls), total, d.function, limit)
		return nil
	}
	fmt.Fprintf(d.out, "%d dead letters for %s\n", len(dls), d.function)
	return nil
}

func shorten(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// get returns the dead letter with DLQ sequence seq, if it is the function's.
func (d dlq) get(ctx context.Context, s jetstream.Stream, seq uint64) (deadLetter, error) {
	m, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) || err == nil && !strings.HasPrefix(m.Subject, streams.DeadLetterRoot+"."+d.function+".") {
		return deadLetter{}, fmt.Errorf("%w: no dead letter %d for %s", errNotFound, seq, d.function)
	}
	if err != nil {
		return deadLetter{}, err
	}
	return toDeadLetter(m.Sequence, m.Subject, m.Header, m.Data, m.Time), nil
}

func seqs(args []string) ([]uint64, error) {
	var out []uint64
	for _, a := range args {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%w: %q is not a dead-letter sequence", errUsage, a)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func (d dlq) show(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: dlq show takes one sequence", errUsage)
	}
	ns, err := seqs(args)
	if err != nil {
		return err
	}
	s, err := d.deadLetterStream(ctx)
	if err != nil {
		return err
	}
	dl, err := d.get(ctx, s, ns[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "dead letter %d of %s\nkey:     %s\nreason:  %s\nsubject: %s\ntime:    %s\n", dl.Seq, d.function, dl.Key, dl.Reason, dl.Subject, dl.Time.UTC().Format(time.RFC3339))
	names := make([]string, 0, len(dl.Headers))
	for k := range dl.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	fmt.Fprintln(d.out, "headers:")
	for _, k := range names {
		fmt.Fprintf(d.out, "  %s: %s\n", k, dl.Headers[k])
	}
	fmt.Fprintln(d.out, "body:")
	var pretty any
	if json.Unmarshal(dl.Data, &pretty) == nil {
		b, _ := json.MarshalIndent(pretty, "  ", "  ")
		fmt.Fprintf(d.out, "  %s\n", b)
	} else {
		fmt.Fprintf(d.out, "  %q\n", dl.Data)
	}
	return nil
}

// requeue publishes dead letters back to their original subjects, oldest
// first, for this function only and with their original sequence (so a
// change already overtaken by a newer one of its key is not applied), and
// deletes each from the dead letters once the stream has it. With
// --as-new, they go without it: each is ordered as a change published now,
// for a change older than the function's guard pruning horizon that should
// apply.
func (d dlq) requeue(ctx context.Context, args []string, all, asNew bool) error {
	if d.function == change.BridgeFunction {
		return fmt.Errorf("%w: the bridge's dead letters are keys it could not read, not changes: fix the key in Redis and it is read again on its next write (then purge them)", errUsage)
	}
	if all && len(args) > 0 || !all && len(args) == 0 {
		return fmt.Errorf("%w: dlq requeue takes sequences or --all", errUsage)
	}
	s, err := d.deadLetterStream(ctx)
	if err != nil {
		return err
	}
	var dls []deadLetter
	if all {
		if dls, err = d.read(ctx); err != nil {
			return err
		}
	} else {
		ns, err := seqs(args)
		if err != nil {
			return err
		}
		for _, n := range ns {
			dl, err := d.get(ctx, s, n)
			if err != nil {
				return err
			}
			dls = append(dls, dl)
		}
	}
	if len(dls) == 0 {
		return fmt.Errorf("%w: no dead letters for %s", errNotFound, d.function)
	}
	for _, dl := range dls {
		if _, err := change.Decode(dl.Data); err != nil {
			return fmt.Errorf("dead letter %d is not a change that can ever apply (%v); purge it: jetsync dlq purge %s %d --yes", dl.Seq, err, d.function, dl.Seq)
		}
	}
	for _, dl := range dls {
		m := nats.NewMsg(dl.Subject)
		m.Data = dl.Data
		if !asNew {
			m.Header.Set(change.HeaderOriginalSeq, strconv.FormatUint(dl.OriginalSeq, 10))
		}
		m.Header.Set(change.HeaderRequeuedFor, d.function)
		m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("requeue-%s-%d", d.function, dl.Seq))
		if _, err := d.js.PublishMsg(ctx, m); err != nil {
			return fmt.Errorf("requeue dead letter %d: %w", dl.Seq, err)
		}
		if err := s.DeleteMsg(ctx, dl.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("requeued dead letter %d but could not delete it: %w", dl.Seq, err)
		}
		fmt.Fprintf(d.out, "requeued %d (%s)\n", dl.Seq, dl.Key)
	}
	fmt.Fprintf(d.out, "%d dead letters of %s requeued\n", len(dls), d.function)
	return nil
}

func (d dlq) purge(ctx context.Context, args []string) error {
	s, err := d.deadLetterStream(ctx)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(d.filter()))
		if err != nil {
			return err
		}
		n := 0
		for _, c := range info.State.Subjects {
			n += int(c)
		}
		if n == 0 {
			return fmt.Errorf("%w: no dead letters for %s", errNotFound, d.function)
		}
		if err := s.Purge(ctx, jetstream.WithPurgeSubject(d.filter())); err != nil {
			return err
		}
		fmt.Fprintf(d.out, "purged %d dead letters of %s\n", n, d.function)
		return nil
	}
	ns, err := seqs(args)
	if err != nil {
		return err
	}
	for _, n := range ns {
		if _, err := d.get(ctx, s, n); err != nil {
			return err
		}
		if err := s.DeleteMsg(ctx, n); err != nil {
			return err
		}
	}
	fmt.Fprintf(d.out, "purged %d dead letters of %s\n", len(ns), d.function)
	return nil
}
