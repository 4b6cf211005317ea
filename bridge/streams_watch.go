package bridge

import (
	"context"
	"time"
)

// streamPoll is how often the bridge reads the change stream's use of its
// limits.
const streamPoll = 30 * time.Second

// watchStream exports the change stream's bytes and oldest change beside
// its limits until ctx ends: a stream at its byte limit drops its oldest
// changes, which a new function or a replay then never sees.
func (b *Bridge) watchStream(ctx context.Context) {
	for {
		if s, err := b.js.Stream(ctx, b.cfg.StreamConfig.Name); err == nil {
			info := s.CachedInfo()
			b.m.streamBytes.Set(float64(info.State.Bytes))
			b.m.streamMaxBytes.Set(float64(info.Config.MaxBytes))
			b.m.streamMaxAge.Set(info.Config.MaxAge.Seconds())
			age := 0.0
			if info.State.Msgs > 0 {
				age = time.Since(info.State.FirstTime).Seconds()
			}
			b.m.streamAge.Set(age)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(streamPoll):
		}
	}
}
