package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/infra/platform"
)

// replayArgs are the options of `jetsync replay`.
type replayArgs struct {
	function string
	all      bool
	fromSeq  uint64
	since    time.Time
	truncate bool
	restart  bool
}

func (a replayArgs) starts() bool { return a.all || a.fromSeq > 0 || !a.since.IsZero() }

func parseReplay(args []string, now time.Time) (replayArgs, error) {
	var a replayArgs
	modes := 0
	for i := 0; i < len(args); i++ {
		arg := args[i]
		value := func() (string, error) {
			if k, v, ok := strings.Cut(arg, "="); ok {
				arg = k
				return v, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("%w: %s needs a value", errUsage, arg)
			}
			i++
			return args[i], nil
		}
		name, _, _ := strings.Cut(arg, "=")
		switch name {
		case "--all":
			a.all = true
			modes++
		case "--truncate":
			a.truncate = true
		case "--restart":
			a.restart = true
		case "--from-seq":
			v, err := value()
			if err != nil {
				return a, err
			}
			if a.fromSeq, err = strconv.ParseUint(v, 10, 64); err != nil || a.fromSeq == 0 {
				return a, fmt.Errorf("%w: --from-seq %q: want a stream sequence (1 or more)", errUsage, v)
			}
			modes++
		case "--since":
			v, err := value()
			if err != nil {
				return a, err
			}
			if a.since, err = parseSince(v, now); err != nil {
				return a, err
			}
			modes++
		default:
			if strings.HasPrefix(arg, "-") || a.function != "" {
				return a, fmt.Errorf("%w: replay: unexpected %q", errUsage, arg)
			}
			a.function = arg
		}
	}
	switch {
	case a.function == "":
		return a, fmt.Errorf("%w: replay needs a function", errUsage)
	case modes > 1:
		return a, fmt.Errorf("%w: replay takes one of --all, --from-seq and --since", errUsage)
	case (a.truncate || a.restart) && modes == 0:
		return a, fmt.Errorf("%w: --truncate and --restart go with --all, --from-seq or --since", errUsage)
	}
	return a, nil
}

// parseSince reads an RFC 3339 time or a duration ago ("90m").
func parseSince(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%w: --since %q: want an RFC 3339 time (2026-01-02T15:04:05Z) or a duration ago (90m)", errUsage, v)
}

// replayer asks for a replay and watches it.
type replayer struct {
	js     jetstream.JetStream
	stream string
	out    io.Writer
	// every is how often progress is read; tty redraws one line.
	every time.Duration
	tty   bool
}

func (r replayer) run(ctx context.Context, a replayArgs) error {
	live, err := r.js.Consumer(ctx, r.stream, a.function)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("%w: function %s has no consumer on stream %s (start the function first)", errNotFound, a.function, r.stream)
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("%w: stream %s does not exist", errNotFound, r.stream)
	}
	if err != nil {
		return err
	}
	name := change.ReplayConsumer(a.function)
	cons, err := r.js.Consumer(ctx, r.stream, name)
	switch {
	case err == nil && a.restart:
		if err := r.js.DeleteConsumer(ctx, r.stream, name); err != nil {
			return fmt.Errorf("delete replay consumer %s: %w", name, err)
		}
		fmt.Fprintf(r.out, "replay %s: restarting\n", a.function)
		cons = nil
	case err == nil:
		fmt.Fprintf(r.out, "replay %s: a replay is in progress; watching it (--restart to start over)\n", a.function)
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		if !a.starts() {
			return fmt.Errorf("%w: no replay of %s in progress; say --all, --from-seq N or --since TIME", errNotFound, a.function)
		}
		cons = nil
	default:
		return err
	}
	if cons == nil {
		if cons, err = r.create(ctx, a, live.CachedInfo().Config); err != nil {
			return err
		}
	}
	return r.watch(ctx, a.function, cons)
}

// create makes the replay consumer: same filter as the live consumer,
// starting where asked, ending at the stream's last sequence now.
func (r replayer) create(ctx context.Context, a replayArgs, live jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	s, err := r.js.Stream(ctx, r.stream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	filter := live.FilterSubject
	if filter == "" && len(live.FilterSubjects) == 1 {
		filter = live.FilterSubjects[0]
	}
	first, end := info.State.FirstSeq, info.State.LastSeq
	start := first
	switch {
	case a.fromSeq > 0:
		start = max(a.fromSeq, first)
	case !a.since.IsZero():
		// Where the stream stands at that time: a probe consumer's first position.
		probe, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{
			FilterSubject: filter, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &a.since,
			AckPolicy: jetstream.AckNonePolicy, InactiveThreshold: time.Minute,
		})
		if err != nil {
			return nil, fmt.Errorf("find the first sequence since %s: %w", a.since.Format(time.RFC3339), err)
		}
		start = max(probe.CachedInfo().Delivered.Stream+1, first)
		_ = s.DeleteConsumer(ctx, probe.CachedInfo().Name)
	}
	if end == 0 || start > end {
		return nil, fmt.Errorf("%w: nothing to replay: the stream holds sequences %d..%d", errNotFound, first, end)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       change.ReplayConsumer(a.function),
		Description:   "jetsync replay of " + a.function,
		FilterSubject: filter,
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   start,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       live.AckWait,
		MaxAckPending: live.MaxAckPending,
		Metadata: map[string]string{
			change.MetaReplayOf:       a.function,
			change.MetaReplayStart:    strconv.FormatUint(start, 10),
			change.MetaReplayEnd:      strconv.FormatUint(end, 10),
			change.MetaReplayTruncate: strconv.FormatBool(a.truncate),
		},
	}
	cons, err := s.CreateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create replay consumer: %w", err)
	}
	what := fmt.Sprintf("stream sequences %d..%d of %s", start, end, filter)
	if a.truncate {
		what += ", after truncating its table"
	}
	fmt.Fprintf(r.out, "replay %s: %s\n", a.function, what)
	return cons, nil
}

// watch shows progress until the replay consumer is gone (the function
// deleted it: done) or ctx ends (Ctrl-C: the replay goes on).
func (r replayer) watch(ctx context.Context, function string, cons jetstream.Consumer) error {
	name := cons.CachedInfo().Name
	began := time.Now()
	var first *replayStatus
	var last replayStatus
	tick := time.NewTicker(r.every)
	defer tick.Stop()
	for {
		ci, err := cons.Info(ctx)
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			if r.tty {
				last.Done = last.Total
				fmt.Fprintf(r.out, "\r%s\n", progressLine(function, last, first, began, true))
			}
			fmt.Fprintf(r.out, "replay %s: done in %s\n", function, time.Since(began).Round(100*time.Millisecond))
			return nil
		case ctx.Err() != nil:
			if r.tty {
				fmt.Fprintln(r.out)
			}
			fmt.Fprintf(r.out, "replay %s: stopped watching; the replay goes on in the function (run jetsync replay %s to watch it again)\n", function, function)
			return nil
		case err != nil:
			return fmt.Errorf("replay consumer %s: %w", name, err)
		}
		last = *replayProgress(ci)
		if last.Error != "" {
			if r.tty {
				fmt.Fprintln(r.out)
			}
			return fmt.Errorf("replay of %s failed in the function: %s (fix it and run jetsync replay %s --restart ...)", function, last.Error, function)
		}
		if first == nil {
			f := last
			first = &f
		}
		if r.tty {
			fmt.Fprintf(r.out, "\r%s", progressLine(function, last, first, began, true))
		} else {
			fmt.Fprintln(r.out, progressLine(function, last, first, began, false))
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// progressLine renders a replay's progress (platform.ProgressLine), the
// rate counted from the first reading.
func progressLine(function string, p replayStatus, first *replayStatus, began time.Time, bar bool) string {
	from := p.Done
	if first != nil {
		from = first.Done
	}
	return platform.ProgressLine("replay "+function, p.Done, p.Total, from, began, bar)
}
