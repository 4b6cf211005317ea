package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge/change"
)

// Rate is a count over a duration.
type Rate struct {
	Count   int     `json:"count"`
	Seconds float64 `json:"seconds"`
	PerSec  float64 `json:"per_sec"`
	// CPUPer1k: CPU seconds per 1,000 of the shared servers (and of this
	// process, the client) while it ran.
	CPUPer1k map[string]float64 `json:"cpu_seconds_per_1k,omitempty"`
}

// withCPU runs f and adds the servers' and this process's CPU per 1,000.
func (e *env) withCPU(f func() (Rate, error)) (Rate, error) {
	pids := others(e.ns)
	pids["bench (client)"] = os.Getpid()
	before := cpuOf(pids)
	r, err := f()
	if err != nil {
		return r, err
	}
	r.CPUPer1k = map[string]float64{}
	for name, v := range cpuOf(pids) {
		r.CPUPer1k[name] = per1k(v-before[name], r.Count)
	}
	return r, nil
}

func rate(n int, d time.Duration) Rate {
	return Rate{Count: n, Seconds: d.Seconds(), PerSec: float64(n) / d.Seconds()}
}

// mysqlCeiling upserts the drain phase's rows (write i to key i % keys)
// straight into a fresh table: one connection, Batch rows per multi-row
// INSERT ... ON DUPLICATE KEY UPDATE and per transaction, as the connector
// writes them, without jetsync's sequence bookkeeping.
func (e *env) mysqlCeiling(ctx context.Context, base string, keys int) (Rate, error) {
	table, err := e.table(ctx, base)
	if err != nil {
		return Rate{}, err
	}
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return Rate{}, err
	}
	defer conn.Close()
	head := "INSERT INTO " + table + " (id, name, email, n) VALUES "
	tail := " ON DUPLICATE KEY UPDATE name = VALUES(name), email = VALUES(email), n = VALUES(n)"
	start := time.Now()
	for from := 0; from < e.opts.Changes; from += e.opts.Batch {
		to := min(from+e.opts.Batch, e.opts.Changes)
		// Within a batch the last write of a key wins, as in the function.
		last := map[int]int{}
		for i := from; i < to; i++ {
			last[i%keys] = i
		}
		args := make([]any, 0, 4*len(last))
		for i := from; i < to; i++ {
			if last[i%keys] != i {
				continue
			}
			f := fields(i, int64(i))
			args = append(args, strconv.Itoa(i%keys), f[1], f[3], f[5])
		}
		q := head + strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?), ", len(args)/4), ", ") + tail
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return Rate{}, err
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			_ = tx.Rollback()
			return Rate{}, err
		}
		if err := tx.Commit(); err != nil {
			return Rate{}, err
		}
	}
	return rate(e.opts.Changes, time.Since(start)), nil
}

// jetStreamCeiling publishes the unique phase's changes (the bridge's JSON
// bodies, one subject per key, Nats-Msg-Id set) to a file-storage stream of
// the same nats-server, asynchronously, while a durable pull consumer
// fetches them in batches and acks each one. It counts from the first
// publish until the consumer has nothing pending or unacked.
func (e *env) jetStreamCeiling(ctx context.Context) (Rate, error) {
	name := "JSCEIL_" + e.run
	root := "jsceil_" + e.run
	s, err := e.js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{root + ".>"}, Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute})
	if err != nil {
		return Rate{}, err
	}
	defer e.js.DeleteStream(context.Background(), name)
	cons, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "ceiling", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: max(1000, 4*e.opts.Batch)})
	if err != nil {
		return Rate{}, err
	}
	msgs := make([]*nats.Msg, e.opts.Changes)
	seen := time.Now().UTC()
	for i := range msgs {
		f := fields(i, int64(i))
		c, err := change.New("p:"+strconv.Itoa(i), change.Upsert, map[string]string{"name": f[1].(string), "email": f[3].(string), "n": f[5].(string)}, seen)
		if err != nil {
			return Rate{}, err
		}
		body, _ := c.Encode()
		m := nats.NewMsg(root + "." + change.IDToken(c.ID))
		m.Data = body
		m.Header.Set(jetstream.MsgIDHeader, e.run+"-"+strconv.Itoa(i))
		msgs[i] = m
	}

	var consumed atomic.Int64
	consumeErr := make(chan error, 1)
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	start := time.Now()
	go func() {
		for cctx.Err() == nil && consumed.Load() < int64(len(msgs)) {
			batch, err := cons.Fetch(e.opts.Batch, jetstream.FetchMaxWait(100*time.Millisecond))
			if err != nil {
				consumeErr <- err
				return
			}
			for m := range batch.Messages() {
				if err := m.Ack(); err != nil {
					consumeErr <- err
					return
				}
				consumed.Add(1)
			}
		}
		consumeErr <- nil
	}()
	for _, m := range msgs {
		if _, err := e.js.PublishMsgAsync(m, jetstream.WithStallWait(10*time.Second)); err != nil {
			return Rate{}, err
		}
	}
	select {
	case <-e.js.PublishAsyncComplete():
	case <-time.After(e.opts.Timeout):
		return Rate{}, fmt.Errorf("JetStream ceiling: publishes not acked after %s", e.opts.Timeout)
	}
	select {
	case err := <-consumeErr:
		if err != nil {
			return Rate{}, fmt.Errorf("JetStream ceiling: consume: %w", err)
		}
	case <-time.After(e.opts.Timeout):
		return Rate{}, fmt.Errorf("JetStream ceiling: %d of %d consumed after %s", consumed.Load(), len(msgs), e.opts.Timeout)
	}
	if _, err := waitFor(ctx, e.opts.Timeout, 5*time.Millisecond, 0, func() (bool, error) {
		info, err := cons.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0, err
	}); err != nil {
		return Rate{}, fmt.Errorf("JetStream ceiling: acks: %w", err)
	}
	return rate(len(msgs), time.Since(start)), nil
}
