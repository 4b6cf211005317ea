package bridge

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

type metrics struct {
	events      *prometheus.CounterVec // keyspace notifications by what they mean
	published   prometheus.Counter
	retries     prometheus.Counter
	deadLetters prometheus.Counter
	resyncs     prometheus.Counter
	resynced    prometheus.Counter
	queued      prometheus.GaugeFunc
	readErrors  prometheus.Counter
	gaps        *prometheus.CounterVec
	active      prometheus.GaugeFunc
	// The change stream's use of its limits, read every 30 s.
	streamBytes, streamMaxBytes, streamAge, streamMaxAge prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, queued, active func() float64) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetsync_bridge_events_total",
			Help: "Keyspace notifications received, by kind: write, deletion, skip (EXPIRE, ignored expiry, ...).",
		}, []string{"kind"}),
		published:   prometheus.NewCounter(prometheus.CounterOpts{Name: "jetsync_bridge_published_total", Help: "Messages stored (PubAck received): changes, and dead letters of keys."}),
		retries:     prometheus.NewCounter(prometheus.CounterOpts{Name: "jetsync_bridge_publish_retries_total", Help: "Publishes sent again after a failure."}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{Name: "jetsync_bridge_dead_letters_total", Help: "Keys that could not become a change (not a hash, no id)."}),
		resyncs:     prometheus.NewCounter(prometheus.CounterOpts{Name: "jetsync_bridge_resyncs_total", Help: "Resyncs of a prefix (after every (re)subscribe)."}),
		resynced:    prometheus.NewCounter(prometheus.CounterOpts{Name: "jetsync_bridge_resynced_keys_total", Help: "Keys queued by resyncs."}),
		readErrors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "jetsync_bridge_read_errors_total", Help: "Failed pipelined reads from Redis (retried)."}),
		gaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetsync_bridge_gaps_total",
			Help: "Moments when notifications may have been lost (pub/sub reconnect, journal deleted), each followed by a resync.",
		}, []string{"why"}),
		queued: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jetsync_bridge_queued_keys", Help: "Dirty keys waiting to be read and published.",
		}, queued),
	}
	m.active = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "jetsync_bridge_active", Help: "1 while this bridge holds its lease and carries changes; 0 while it stands by.",
	}, active)
	m.streamBytes = prometheus.NewGauge(prometheus.GaugeOpts{Name: "jetsync_bridge_stream_bytes", Help: "Bytes the change stream holds."})
	m.streamMaxBytes = prometheus.NewGauge(prometheus.GaugeOpts{Name: "jetsync_bridge_stream_max_bytes", Help: "The change stream's byte limit (-1: none); at the limit the oldest changes are dropped."})
	m.streamAge = prometheus.NewGauge(prometheus.GaugeOpts{Name: "jetsync_bridge_stream_oldest_seconds", Help: "Age of the oldest change the stream holds: how far back a replay can go."})
	m.streamMaxAge = prometheus.NewGauge(prometheus.GaugeOpts{Name: "jetsync_bridge_stream_max_age_seconds", Help: "The change stream's age limit (0: none)."})
	reg.MustRegister(m.events, m.published, m.retries, m.deadLetters, m.resyncs, m.resynced, m.readErrors, m.gaps, m.queued, m.active,
		m.streamBytes, m.streamMaxBytes, m.streamAge, m.streamMaxAge)
	for _, k := range []string{"write", "deletion", "skip"} {
		m.events.WithLabelValues(k)
	}
	return m
}

// gapCount is the gaps counted so far, every reason together.
func (m *metrics) gapCount() float64 {
	ch := make(chan prometheus.Metric, 16)
	go func() { m.gaps.Collect(ch); close(ch) }()
	total := 0.0
	for c := range ch {
		var d dto.Metric
		if c.Write(&d) == nil {
			total += d.GetCounter().GetValue()
		}
	}
	return total
}
