package bridge

import (
	"fmt"
	"testing"
	"time"

	"github.com/jetsync/jetsync/infra/testenv"
)

// TestStreamLimitsExported: the bridge exports the change stream's size
// and age beside its limits (the alert on a stream near its byte limit
// reads them).
func TestStreamLimitsExported(t *testing.T) {
	t.Parallel()
	prefix := testenv.Name("p")
	cfg := testConfig(testenv.RedisAddr(), testenv.NATS(t), prefix)
	cfg.MaxBytes, cfg.MaxAge = 64<<20, 2*time.Hour
	b := startBridge(t, cfg)
	gauge := func(name string) (float64, error) {
		mfs, err := b.Registry().Gather()
		if err != nil {
			return 0, err
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				return mf.GetMetric()[0].GetGauge().GetValue(), nil
			}
		}
		return 0, fmt.Errorf("no metric %s", name)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		for name, want := range map[string]float64{"jetsync_bridge_stream_max_bytes": 64 << 20, "jetsync_bridge_stream_max_age_seconds": 7200} {
			if v, err := gauge(name); err != nil || v != want {
				return fmt.Errorf("%s = %v (%v), want %v", name, v, err, want)
			}
		}
		return nil
	})
}
