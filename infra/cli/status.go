package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge"
	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/bridge/streams"
)

// streamStatus is the change stream as `jetsync status` shows it.
type streamStatus struct {
	Name     string    `json:"name"`
	Messages uint64    `json:"messages"`
	Bytes    uint64    `json:"bytes"`
	FirstSeq uint64    `json:"first_seq"`
	LastSeq  uint64    `json:"last_seq"`
	First    time.Time `json:"first_time,omitzero"`
	// Age is how old the first (oldest) message is, in seconds.
	Age float64 `json:"age_seconds"`
	// BridgeDeadLetters are keys the bridge could not read.
	BridgeDeadLetters uint64 `json:"bridge_dead_letters"`
}

// functionStatus is one function's consumer.
type functionStatus struct {
	Name          string `json:"name"`
	Version       string `json:"version"`
	Prefix        string `json:"prefix"`
	Pending       uint64 `json:"pending"`
	AckPending    int    `json:"ack_pending"`
	Redelivered   int    `json:"redelivered"`
	LastDelivered uint64 `json:"last_delivered_seq"`
	// AckFloor is the stream sequence up to which everything is acked, that
	// is applied (or dead-lettered): the CLI cannot read the target
	// databases, so this stands for the last applied sequence; the function
	// exports the exact figure as jetsync_function_last_applied_seq.
	AckFloor    uint64 `json:"ack_floor_seq"`
	DeadLetters uint64 `json:"dead_letters"`
	// Replay is the progress of a replay in progress, if any.
	Replay *replayStatus `json:"replay,omitempty"`
}

type replayStatus struct {
	Start uint64 `json:"start_seq"`
	End   uint64 `json:"end_seq"`
	Done  uint64 `json:"done"`
	Total uint64 `json:"total"`
	Error string `json:"error,omitempty"`
}

type status struct {
	Stream    streamStatus     `json:"stream"`
	Bridges   []leaseStatus    `json:"bridges"`
	Functions []functionStatus `json:"functions"`
}

// leaseStatus is one HA lease: the bridge that carries a Redis, and the
// bridges standing by for it.
type leaseStatus struct {
	Lease  string `json:"lease"`
	Holder string `json:"holder"`
	// Renewed is how long ago the holder last renewed it, in seconds.
	Renewed  float64         `json:"renewed_seconds_ago"`
	Bridges  []bridge.Member `json:"bridges"`
	Standbys int             `json:"standbys"`
}

// readLeases reads the HA leases' bucket (none when no bridge runs with
// JETSYNC_HA_LEASE).
func readLeases(ctx context.Context, js jetstream.JetStream) ([]leaseStatus, error) {
	kv, err := js.KeyValue(ctx, bridge.LeaseBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []leaseStatus
	var members []bridge.Member
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue // expired meanwhile
		}
		if strings.HasPrefix(k, bridge.MemberPrefix) {
			var m bridge.Member
			if json.Unmarshal(e.Value(), &m) == nil {
				members = append(members, m)
			}
			continue
		}
		out = append(out, leaseStatus{Lease: k, Holder: string(e.Value()), Renewed: time.Since(e.Created()).Seconds()})
	}
	for i := range out {
		for _, m := range members {
			if m.Lease == out[i].Lease {
				out[i].Bridges = append(out[i].Bridges, m)
				if !m.Active {
					out[i].Standbys++
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b leaseStatus) int { return strings.Compare(a.Lease, b.Lease) })
	return out, nil
}

func runStatus(ctx context.Context, js jetstream.JetStream, stream string, asJSON bool, out io.Writer) error {
	st, err := readStatus(ctx, js, stream)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	writeStatus(out, st)
	return nil
}

func readStatus(ctx context.Context, js jetstream.JetStream, stream string) (status, error) {
	s, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return status{}, fmt.Errorf("%w: stream %s does not exist (has the bridge run?)", errNotFound, stream)
	}
	if err != nil {
		return status{}, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return status{}, err
	}
	st := status{Stream: streamStatus{
		Name: stream, Messages: info.State.Msgs, Bytes: info.State.Bytes,
		FirstSeq: info.State.FirstSeq, LastSeq: info.State.LastSeq,
	}}
	if info.State.Msgs > 0 {
		st.Stream.First = info.State.FirstTime
		st.Stream.Age = time.Since(info.State.FirstTime).Seconds()
	}
	deadLetters := func(function string) (uint64, error) { return streams.CountDeadLetters(ctx, js, stream, function) }
	if st.Bridges, err = readLeases(ctx, js); err != nil {
		return status{}, err
	}
	if st.Stream.BridgeDeadLetters, err = deadLetters(change.BridgeFunction); err != nil {
		return status{}, err
	}

	replays := map[string]*replayStatus{}
	consumers := s.ListConsumers(ctx)
	for ci := range consumers.Info() {
		md := ci.Config.Metadata
		if of := md[change.MetaReplayOf]; of != "" {
			replays[of] = replayProgress(ci)
			continue
		}
		if _, ok := md[change.MetaVersion]; !ok {
			continue // not a jetsync function's consumer
		}
		fs := functionStatus{
			Name: ci.Name, Version: md[change.MetaVersion], Prefix: md[change.MetaPrefix],
			Pending: ci.NumPending, AckPending: ci.NumAckPending, Redelivered: ci.NumRedelivered,
			LastDelivered: ci.Delivered.Stream, AckFloor: ci.AckFloor.Stream,
		}
		if fs.DeadLetters, err = deadLetters(ci.Name); err != nil {
			return status{}, err
		}
		st.Functions = append(st.Functions, fs)
	}
	if err := consumers.Err(); err != nil {
		return status{}, err
	}
	for i := range st.Functions {
		st.Functions[i].Replay = replays[st.Functions[i].Name]
	}
	slices.SortFunc(st.Functions, func(a, b functionStatus) int { return strings.Compare(a.Name, b.Name) })
	return st, nil
}

// replayProgress reads a replay consumer: done counts the stream sequences
// from start that are acked, out of end - start + 1.
func replayProgress(ci *jetstream.ConsumerInfo) *replayStatus {
	md := ci.Config.Metadata
	rs := &replayStatus{Error: md[change.MetaReplayError]}
	fmt.Sscan(md[change.MetaReplayStart], &rs.Start)
	fmt.Sscan(md[change.MetaReplayEnd], &rs.End)
	if rs.End >= rs.Start && rs.Start > 0 {
		rs.Total = rs.End - rs.Start + 1
		floor := min(max(ci.AckFloor.Stream, rs.Start-1), rs.End)
		rs.Done = floor - (rs.Start - 1)
	}
	return rs
}

func writeStatus(out io.Writer, st status) {
	s := st.Stream
	fmt.Fprintf(out, "stream %s: %d messages, %s, sequences %d..%d, oldest %s ago; bridge dead letters %d\n\n",
		s.Name, s.Messages, bytesText(s.Bytes), s.FirstSeq, s.LastSeq, (time.Duration(s.Age) * time.Second).Round(time.Second), s.BridgeDeadLetters)
	for _, l := range st.Bridges {
		fmt.Fprintf(out, "bridge lease %s: active %s, renewed %s ago, %d standing by\n", l.Lease, l.Holder, (time.Duration(l.Renewed*1000) * time.Millisecond).Round(time.Millisecond), l.Standbys)
		for _, m := range l.Bridges {
			role, mode := "standby", "notifications"
			if m.Active {
				role = "active"
			}
			if len(m.Journal) > 0 {
				mode = "journal for " + strings.Join(m.Journal, ",") + ", notifications for the rest"
			}
			fmt.Fprintf(out, "  bridge %s: %s, prefixes %s, %s, %.0f gaps\n", m.ID, role, strings.Join(m.Prefixes, ","), mode, m.Gaps)
		}
	}
	if len(st.Bridges) > 0 {
		fmt.Fprintln(out)
	}
	if len(st.Functions) == 0 {
		fmt.Fprintln(out, "no functions have registered a consumer yet")
		return
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tVERSION\tPREFIX\tPENDING\tACK PENDING\tREDELIVERED\tLAST DELIVERED\tACK FLOOR\tDEAD LETTERS\tREPLAY")
	for _, f := range st.Functions {
		replay := "-"
		if r := f.Replay; r != nil {
			replay = fmt.Sprintf("%d/%d", r.Done, r.Total)
			if r.Error != "" {
				replay += " failed: " + r.Error
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", f.Name, f.Version, f.Prefix, f.Pending, f.AckPending,
			f.Redelivered, f.LastDelivered, f.AckFloor, f.DeadLetters, replay)
	}
	tw.Flush()
	fmt.Fprintln(out, "\nACK FLOOR: every change up to this stream sequence is applied or dead-lettered.")
}

// bytesText prints a size in B, KiB, MiB or GiB.
func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 2; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMG"[exp])
}
