package handlers

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetsync/jetsync/bridge/streams"
	"github.com/jetsync/jetsync/infra/platform"
)

// Runner runs one function.
type Runner struct {
	cfg  Config
	fn   Function
	sink Sink
	log  *slog.Logger
	js   jetstream.JetStream
	reg  *prometheus.Registry
	m    *metrics
	// degraded is true while writes fail transiently; logged on change only.
	degraded atomic.Bool
	// consuming is true once the consumer is registered.
	consuming atomic.Bool
	// replyStream is true once the write-through reply stream is ensured
	// (only touched by process, under writing).
	replyStream bool
	// replicas is the change stream's replica count, which the support
	// streams this runner creates get too.
	replicas int
	// writing is held while a batch (live or replayed) is applied, and by
	// the truncation before a replay, so that no write falls in between.
	writing sync.Mutex
	// epochs orders the changes of superseded bridges (fence.go).
	epochs epochs
	// verifyKV is the bucket of verify results, once found (verify.go).
	verifyKV jetstream.KeyValue
	// pruneIgnoresDeadLetters and pruneMarkOff are test hooks: the pruning
	// horizon leaves the dead letters out, and changes below the pruning
	// mark are applied as any other (prune.go).
	pruneIgnoresDeadLetters, pruneMarkOff bool
	// keepAliveOff is a test hook: held messages are not kept in progress.
	keepAliveOff bool
	// keyIDs is a test hook: a history function's changes are told apart
	// by key and order, as for any function (Change.id).
	keyIDs bool
	// noIsolation and filedOff are test hooks: a permanent failure
	// dead-letters the whole batch; a refused change is filed again at
	// every retry.
	noIsolation, filedOff bool
	// unbounded is a test hook: a write attempt has no deadline and a long
	// one is not reported (what a black-holed database once did unseen).
	unbounded bool
	// versionCheckOff is a test hook: register takes the consumer over
	// whatever version owns it.
	versionCheckOff bool
	// replayUnguarded is a test hook: a replay's batches are written
	// without sequence guards (process).
	replayUnguarded bool
	// writePause, ackFirst and answerFirst are test hooks of a testhooks
	// build (testhooks.go): a pause before each batch is written, and acks
	// or write-through answers before it.
	writePause  time.Duration
	ackFirst    bool
	answerFirst bool
}

// envHooks, set in a testhooks build, applies JETSYNC_TEST_HOOKS to a new
// runner.
var envHooks func(*Runner) error

// New returns a runner of fn that writes through sink. The name and version
// come from cfg or, where cfg leaves them empty, from fn when it is Named. It
// validates cfg.
func New(cfg Config, fn Function, sink Sink, log *slog.Logger) (*Runner, error) {
	cfg = cfg.withIdentity(fn)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	reg := platform.NewRegistry()
	r := &Runner{cfg: cfg, fn: fn, sink: sink, log: log.With("function", cfg.Name), reg: reg, m: newMetrics(reg, cfg.Name)}
	if envHooks != nil {
		if err := envHooks(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Registry holds the function's metrics (served on JETSYNC_HTTP_ADDR).
func (r *Runner) Registry() *prometheus.Registry { return r.reg }

// Ready reports why the function is not ready, or nil: it is ready when it
// consumes, is connected to NATS, and its writes succeed.
func (r *Runner) Ready() error {
	switch {
	case !r.consuming.Load():
		return errors.New("consumer not registered yet")
	case r.js != nil && !r.js.Conn().IsConnected():
		return errors.New("not connected to NATS")
	case r.degraded.Load():
		return errors.New("writes to the target are failing and being retried")
	}
	return nil
}

// Run consumes and applies changes until ctx is done, then finishes the batch
// in hand (for at most ShutdownGrace), closes the sink and the connection.
// It returns an error only when the function cannot start.
func (r *Runner) Run(ctx context.Context) error {
	defer r.sink.Close()
	stopHTTP, err := r.cfg.HTTPConfig.Serve(r.reg, r.Ready, r.log)
	if err != nil {
		return err
	}
	defer stopHTTP()
	nc, err := r.cfg.NATS.Connect("jetsync-function-"+r.cfg.Name, r.log)
	if err != nil {
		return err
	}
	defer func() {
		_ = nc.Flush() // the last acks
		nc.Close()
	}()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	r.js = js
	cons, err := r.register(ctx)
	if err != nil {
		return err
	}
	r.replicas = streams.StreamReplicas(ctx, js, r.cfg.Stream)
	if _, err := streams.UseDeadLetterStream(ctx, js, r.cfg.Stream, r.replicas); err != nil {
		return err
	}
	if err := r.forgetEarlierStream(ctx); err != nil {
		return err
	}
	r.consuming.Store(true)
	// run ends with ctx, or when a newer version takes the consumer over.
	run, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	context.AfterFunc(run, func() {
		t := time.AfterFunc(r.cfg.ShutdownGrace, cancelWork)
		context.AfterFunc(work, func() { t.Stop() })
	})

	r.log.Info("function started", "version", r.cfg.Version, "prefix", r.cfg.Prefix, "stream", r.cfg.Stream)
	var loops sync.WaitGroup
	defer loops.Wait()
	loops.Go(func() { r.watchReplays(run, work) })
	loops.Go(func() { r.pruneLoop(run) })
	loops.Go(func() { r.watchConsumer(run, cons, stopRun) })
	// The next batch is fetched while this one is written.
	batches := make(chan []jetstream.Msg)
	go r.fetchAhead(run, cons, batches)
	for msgs := range batches {
		// A batch in hand is finished even during shutdown, within the grace.
		r.process(work, msgs, true)
	}
	if err := context.Cause(run); errors.Is(err, ErrOlderVersion) {
		stopRun(nil)
		return err
	}
	r.log.Info("function stopped")
	return nil
}
