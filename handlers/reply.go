package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/bridge/streams"
	"github.com/jetsync/jetsync/infra/platform"
)

// Write-through replies: answering the callers waiting for a commit.

// answer tells write-through callers, through the bridge, that their change
// is committed ("done") or was refused ("failed" and the reason). It runs
// after the commit and before the acks, so a crash in between answers again
// after redelivery (the redelivered change is then stale, hence done).
func (r *Runner) answer(ctx context.Context, replies map[string]string, refused map[string]error) error {
	if len(replies) == 0 {
		return nil
	}
	if !r.replyStream {
		if _, err := streams.UseReplyStream(ctx, r.js, r.cfg.Stream, r.replicas); err != nil {
			return err
		}
		r.replyStream = true
	}
	backoff := platform.Backoff{Min: 100 * time.Millisecond, Max: r.cfg.RetryMax}
	for token, key := range replies {
		answer := map[string]string{"status": "done", "function": r.cfg.Name}
		if err := refused[key]; err != nil {
			answer["status"], answer["error"] = "failed", capText(err.Error(), maxErrorText)
		}
		body, _ := json.Marshal(answer)
		for {
			_, err := r.js.Publish(ctx, streams.ReplySubject(r.cfg.Name, token), body)
			if err == nil {
				break
			}
			if errors.Is(err, nats.ErrBadSubject) || errors.Is(err, nats.ErrMaxPayload) {
				r.log.Error("write-through answer can never be stored; dropping it (the caller times out)", "key", key, "err", err)
				break
			}
			r.log.Warn("write-through answer not stored yet; retrying", "key", key, "err", err)
			if !backoff.Wait(ctx) {
				return ctx.Err()
			}
		}
	}
	return nil
}

// trimRoot drops the leading "jetsync." of a change subject, keeping the
// rest as it is (a malformed subject still makes a valid dead-letter subject).
func trimRoot(subject string) string {
	if len(subject) > len(change.Root)+1 && subject[:len(change.Root)+1] == change.Root+"." {
		return subject[len(change.Root)+1:]
	}
	return "unknown"
}
