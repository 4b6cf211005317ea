package handlers

import (
	"context"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/bridge/streams"
)

// exportVerify reads the function's last verify result, which `jetsync-table
// verify` keeps in streams.VerifyBucket, into the jetsync_verify_*
// metrics; nothing when there is none yet or NATS does not answer. Only
// watchConsumer calls it, so the bucket is looked up once found.
func (r *Runner) exportVerify(ctx context.Context) {
	if r.verifyKV == nil {
		kv, err := streams.VerifyResults(ctx, r.js)
		if err != nil {
			return
		}
		r.verifyKV = kv
	}
	v, err := streams.LoadVerifyResult(ctx, r.verifyKV, r.cfg.Name)
	if err != nil {
		return
	}
	r.m.verified(v)
}

func (m *metrics) verified(v change.VerifyResult) {
	for _, kind := range change.Kinds {
		m.verifyDiffs.WithLabelValues(kind).Set(float64(v.Differences[kind]))
	}
	m.verifyRows.Set(float64(v.Rows))
	m.verifyKeys.Set(float64(v.Keys))
	m.verifyLast.Set(float64(v.Time.UnixMilli()) / 1000)
	m.verifyDuration.Set(v.Seconds)
}
