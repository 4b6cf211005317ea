package handlers

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are one function's Prometheus metrics; every series carries the
// function's name as a constant label.
type metrics struct {
	changes    *prometheus.CounterVec // by result
	batches    prometheus.Histogram   // changes per batch
	errors     *prometheus.CounterVec // failed writes by class
	degraded   prometheus.Gauge
	lag        prometheus.Gauge
	lastSeq    prometheus.Gauge // highest stream sequence committed
	top        atomic.Uint64
	latency    prometheus.Histogram // bridge saw it → committed
	commitTime prometheus.Histogram
	pruned     prometheus.Counter // guard entries pruned
	lagSeconds prometheus.Gauge   // age of the oldest change not yet applied
	dead       prometheus.Gauge   // dead letters held for the function
	// The last `jetsync-table verify` of the function (verify.go).
	verifyDiffs    *prometheus.GaugeVec // by kind
	verifyRows     prometheus.Gauge
	verifyKeys     prometheus.Gauge
	verifyLast     prometheus.Gauge
	verifyDuration prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, function string) *metrics {
	labels := prometheus.Labels{"function": function}
	m := &metrics{
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetsync_function_changes_total", ConstLabels: labels,
			Help: "Changes handled, by result: applied, coalesced (superseded in their batch), stale (already applied), dead_lettered.",
		}, []string{"result"}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jetsync_function_batch_changes", ConstLabels: labels,
			Help:    "Messages per fetched batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetsync_function_write_errors_total", ConstLabels: labels,
			Help: "Failed writes, by class: transient (retried) or permanent (isolated and dead-lettered).",
		}, []string{"class"}),
		degraded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jetsync_function_degraded", ConstLabels: labels,
			Help: "1 while writes fail transiently and are being retried.",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jetsync_function_consumer_pending", ConstLabels: labels,
			Help: "Messages in the stream after the last one fetched (consumer lag).",
		}),
		lastSeq: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jetsync_function_last_applied_seq", ConstLabels: labels,
			Help: "Highest stream sequence this process has committed to the target.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jetsync_function_end_to_end_seconds", ConstLabels: labels,
			Help:    "From the bridge reading a change to its commit in the target.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jetsync_function_write_seconds", ConstLabels: labels,
			Help:    "Time of one successful write (transaction) to the target.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jetsync_function_guard_entries_pruned_total", ConstLabels: labels,
			Help: "Sequence-guard entries dropped because no change can reach them any more (JETSYNC_PRUNE_INTERVAL).",
		}),
		lagSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jetsync_function_lag_seconds", ConstLabels: labels,
			Help: "Age of the oldest change in the stream the function has not yet applied (0: none); read every 2 s, also while writes fail.",
		}),
		dead: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jetsync_function_dead_letters", ConstLabels: labels,
			Help: "Dead letters of this function in the dead-letter stream (read every 15 s).",
		}),
		verifyDiffs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jetsync_verify_differences", ConstLabels: labels,
			Help: "Differences between the table and Redis the last verify confirmed, by kind: missing, different, gone, bad.",
		}, []string{"kind"}),
		verifyRows: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jetsync_verify_rows", ConstLabels: labels,
			Help: "Rows of the table the last verify read.",
		}),
		verifyKeys: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jetsync_verify_keys", ConstLabels: labels,
			Help: "Keys of the prefix in Redis the last verify read.",
		}),
		verifyLast: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jetsync_verify_last_run_timestamp_seconds", ConstLabels: labels,
			Help: "When the last verify began (Unix time; 0: never verified).",
		}),
		verifyDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jetsync_verify_duration_seconds", ConstLabels: labels,
			Help: "How long the last verify took.",
		}),
	}
	reg.MustRegister(m.changes, m.batches, m.errors, m.degraded, m.lag, m.lastSeq, m.latency, m.commitTime, m.pruned, m.lagSeconds, m.dead,
		m.verifyDiffs, m.verifyRows, m.verifyKeys, m.verifyLast, m.verifyDuration)
	for _, r := range []string{"applied", "coalesced", "stale", "dead_lettered"} {
		m.changes.WithLabelValues(r)
	}
	for _, c := range []string{"transient", "permanent"} {
		m.errors.WithLabelValues(c)
	}
	return m
}

// The methods below accept a nil *metrics (handlers.Apply runs without).

func (m *metrics) count(result string, n int) {
	if m != nil && n > 0 {
		m.changes.WithLabelValues(result).Add(float64(n))
	}
}

func (m *metrics) failed(class string) {
	if m != nil {
		m.errors.WithLabelValues(class).Inc()
	}
}

func (m *metrics) committed(changes []Change, took time.Duration) {
	if m == nil {
		return
	}
	m.commitTime.Observe(took.Seconds())
	now := time.Now()
	for _, c := range changes {
		for {
			top := m.top.Load()
			if c.Seq <= top || m.top.CompareAndSwap(top, c.Seq) {
				break
			}
		}
		if !c.Seen.IsZero() {
			m.latency.Observe(now.Sub(c.Seen).Seconds())
		}
	}
	m.lastSeq.Set(float64(m.top.Load()))
}
