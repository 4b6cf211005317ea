package handlers

import (
	"context"
	"fmt"
	"time"

	"github.com/jetsync/jetsync/infra/platform"
)

// Retries and health: bounded attempts with backoff, the keep-alive, and
// the degraded state.

// retry runs attempt until it returns nil or a permanent error, with capped,
// jittered backoff between attempts; keepAlive is called at least every
// AckWait/3 while it waits and while an attempt runs. An attempt gets
// 2/3 of AckWait: a target that stops answering without closing the
// connection (a black-holed network) fails the attempt, which is retried,
// instead of hanging it; one still running after AckWait/3 marks the
// function degraded. It returns ctx's error when ctx ends first.
func (r *Runner) retry(ctx context.Context, attempt func(context.Context) error, keepAlive func()) error {
	backoff := platform.Backoff{Min: 100 * time.Millisecond, Max: r.cfg.RetryMax}
	for {
		err := r.bounded(ctx, attempt, keepAlive)
		if err == nil || IsPermanent(err) {
			r.setDegraded(false, nil)
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.setDegraded(true, err)
		r.m.failed("transient")
		keepAlive()
		// Sleep in steps short enough to keep the messages in progress.
		deadline := time.Now().Add(backoff.Next())
		for time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(min(time.Until(deadline), r.cfg.AckWait/3)):
			}
			keepAlive()
		}
	}
}

// bounded runs one attempt with a deadline of 2/3 AckWait, keeping the
// messages in progress and reporting a slow attempt as degraded.
func (r *Runner) bounded(ctx context.Context, attempt func(context.Context) error, keepAlive func()) error {
	actx, cancel := context.WithTimeout(ctx, 2*r.cfg.AckWait/3)
	if r.unbounded {
		actx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- attempt(actx) }()
	tick := time.NewTicker(r.cfg.AckWait / 3)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case err := <-done:
			if err != nil && actx.Err() != nil && ctx.Err() == nil {
				err = fmt.Errorf("write did not finish within %s (the target stopped answering?): %w", 2*r.cfg.AckWait/3, err)
			}
			return err
		case <-tick.C:
			keepAlive()
			if !r.unbounded {
				r.setDegraded(true, fmt.Errorf("a write has been running for %s", time.Since(start).Round(time.Second)))
			}
		}
	}
}

func (r *Runner) setDegraded(degraded bool, err error) {
	if r.degraded.Swap(degraded) == degraded {
		return
	}
	r.m.degraded.Set(map[bool]float64{false: 0, true: 1}[degraded])
	if degraded {
		r.log.Warn("writes failing; retrying with backoff until the target is back", "err", err)
	} else {
		r.log.Info("writes succeed again")
	}
}
