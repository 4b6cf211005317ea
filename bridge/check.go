package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jetsync/jetsync/infra/platform"
	"github.com/nats-io/nats.go/jetstream"
)

// Check is `jetsync-bridge check`: it validates cfg, then reaches Redis
// (PING, the notification setting of every node, without changing it) and
// NATS (JetStream, the change stream), writes one line per finding to out,
// and returns an error when anything would stop or hinder the bridge. It
// changes nothing.
func Check(ctx context.Context, cfg Config, out io.Writer, log *slog.Logger) error {
	var failed []string
	report := func(err error, format string, args ...any) {
		line := platform.Redact(fmt.Sprintf(format, args...))
		if err != nil {
			failed = append(failed, line)
			fmt.Fprintf(out, "FAIL %s: %s\n", line, platform.Redact(err.Error()))
			return
		}
		fmt.Fprintf(out, "ok   %s\n", line)
	}
	if err := cfg.Validate(); err != nil {
		report(err, "configuration")
		return errors.New("the configuration is not valid")
	}
	report(nil, "configuration: prefixes %v", cfg.Prefixes)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	rdb := cfg.Redis.Client(cfg.Workers+4, log)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		report(err, "Redis at %s", cfg.Redis.Where())
	} else {
		report(nil, "Redis at %s answers", cfg.Redis.Where())
		b := &Bridge{cfg: cfg, rdb: rdb}
		nodes, err := b.nodes(ctx)
		if err != nil {
			report(err, "Redis nodes")
		}
		need := cfg.neededEvents()
		for _, n := range nodes {
			if cfg.configFree() {
				report(probeNotifications(ctx, n, cfg, newRunID()), "keyspace notifications of %s, probed without CONFIG (needs %q)", n.Options().Addr, need)
				continue
			}
			vals, err := n.ConfigGet(ctx, "notify-keyspace-events").Result()
			switch missing := missingEvents(vals["notify-keyspace-events"], need); {
			case err != nil:
				report(err, "notify-keyspace-events of %s cannot be read", n.Options().Addr)
			case missing == "":
				report(nil, "notify-keyspace-events of %s is %q (needs %q)", n.Options().Addr, vals["notify-keyspace-events"], need)
			case cfg.Redis.ConfigureNotifications:
				report(nil, "notify-keyspace-events of %s lacks %q; the bridge will set it (JETSYNC_REDIS_CONFIGURE_NOTIFICATIONS=true)", n.Options().Addr, missing)
			default:
				report(fmt.Errorf("run CONFIG SET notify-keyspace-events %s%s", vals["notify-keyspace-events"], missing),
					"notify-keyspace-events of %s lacks %q", n.Options().Addr, missing)
			}
		}
	}

	nc, err := cfg.NATS.Connect("jetsync-bridge-check", log)
	if err != nil {
		report(err, "NATS at %s", cfg.NATS.URL)
	} else {
		defer nc.Close()
		report(nil, "NATS at %s: server %s", nc.ConnectedUrlRedacted(), nc.ConnectedServerVersion())
		js, err := jetstream.New(nc)
		if err == nil {
			var s jetstream.Stream
			s, err = js.Stream(ctx, cfg.StreamConfig.Name)
			switch {
			case errors.Is(err, jetstream.ErrStreamNotFound):
				report(nil, "stream %s does not exist yet; the bridge will create it", cfg.StreamConfig.Name)
			case err != nil:
				report(err, "JetStream")
			default:
				info := s.CachedInfo()
				report(nil, "stream %s: %d messages, %d replicas", cfg.StreamConfig.Name, info.State.Msgs, info.Config.Replicas)
			}
		} else {
			report(err, "JetStream")
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d problem(s): the bridge would not start or not carry changes", len(failed))
	}
	return nil
}
