package streams

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsync/jetsync/bridge/change"
	"github.com/jetsync/jetsync/infra/platform"
)

// StreamConfig describes the change stream.
type StreamConfig struct {
	Name     string        `envconfig:"STREAM" default:"JETSYNC"`
	MaxAge   time.Duration `envconfig:"STREAM_MAX_AGE" default:"168h"`
	MaxBytes int64         `envconfig:"STREAM_MAX_BYTES" default:"-1"`
	Replicas int           `envconfig:"STREAM_REPLICAS" default:"1"`
}

// Validate checks the stream settings.
func (c StreamConfig) Validate() error {
	if err := platform.ValidName("JETSYNC_STREAM", c.Name); err != nil {
		return err
	}
	if c.MaxAge < 0 {
		return fmt.Errorf("JETSYNC_STREAM_MAX_AGE=%s: must not be negative (0 keeps messages forever)", c.MaxAge)
	}
	if c.MaxBytes == 0 || c.MaxBytes < -1 {
		return fmt.Errorf("JETSYNC_STREAM_MAX_BYTES=%d: use -1 for no limit or a positive size", c.MaxBytes)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		return fmt.Errorf("JETSYNC_STREAM_REPLICAS=%d: use 1 to 5", c.Replicas)
	}
	return nil
}

// DeadLetterStream is the name of the dead-letter stream of the change
// stream name; its subjects (DeadLetterRoot.>) do not overlap the changes'.
func DeadLetterStream(stream string) string { return stream + "_DLQ" }

// DeadLetterRoot is the first token of every dead-letter subject.
const DeadLetterRoot = "jetsync-dlq"

// EnsureStream creates the change stream or updates it to c: file storage,
// limits retention, subjects jetsync.> (change.Root), a 2-minute duplicate
// window.
func EnsureStream(ctx context.Context, js jetstream.JetStream, c StreamConfig) (jetstream.Stream, error) {
	return ensure(ctx, js, jetstream.StreamConfig{
		Name:        c.Name,
		Description: "jetsync changes of Redis keys",
		Subjects:    []string{change.Root + ".>"},
		MaxAge:      c.MaxAge,
		MaxBytes:    c.MaxBytes,
		Replicas:    c.Replicas,
		Duplicates:  2 * time.Minute,
	})
}

// ensure creates or updates a stream of cfg with file storage and limits
// retention.
func ensure(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	cfg.Storage, cfg.Retention = jetstream.FileStorage, jetstream.LimitsPolicy
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create or update stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// use returns the stream of cfg as it is, creating it (as ensure) only when
// it does not exist: a function's user then needs no right to create or
// update streams when the bridge (or an administrator) made them.
func use(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return ensure(ctx, js, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// singleReplica holds the change streams whose support streams get one
// replica whatever they are asked for: see SingleReplicaSupport.
var singleReplica sync.Map

// SingleReplicaSupport is a test hook, for the control of the test that
// support streams survive a node loss: the dead-letter and reply streams of
// change stream stream are created with one replica, whatever replicas
// EnsureDeadLetterStream and EnsureReplyStream are given, until undo is
// called. Nothing but tests calls it.
func SingleReplicaSupport(stream string) (undo func()) {
	singleReplica.Store(stream, true)
	return func() { singleReplica.Delete(stream) }
}

// supportReplicas is replicas, or 1 under SingleReplicaSupport.
func supportReplicas(stream string, replicas int) int {
	if _, off := singleReplica.Load(stream); off {
		return 1
	}
	return replicas
}

// EnsureDeadLetterStream creates the dead-letter stream of the change stream
// name (or updates it) with as many replicas as the change stream: losing a
// node must not stop dead-lettering. Dead letters are kept until removed.
func EnsureDeadLetterStream(ctx context.Context, js jetstream.JetStream, stream string, replicas int) (jetstream.Stream, error) {
	return ensure(ctx, js, deadLetterConfig(stream, replicas))
}

// UseDeadLetterStream is EnsureDeadLetterStream for functions: an existing
// dead-letter stream is used as it is.
func UseDeadLetterStream(ctx context.Context, js jetstream.JetStream, stream string, replicas int) (jetstream.Stream, error) {
	return use(ctx, js, deadLetterConfig(stream, replicas))
}

func deadLetterConfig(stream string, replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        DeadLetterStream(stream),
		Description: "jetsync changes that a function could not apply",
		Subjects:    []string{DeadLetterRoot + ".>"},
		Replicas:    supportReplicas(stream, replicas),
	}
}

// ReplyRoot is the first token of write-through reply subjects:
// jetsync-reply.<token>.
const ReplyRoot = "jetsync-reply"

// ReplySubject is the subject function answers a write-through call (or
// an rgsync acknowledgement) token on: jetsync-reply.<function>.<token>.
// The bridge completes the call only when function consumes the prefix of
// the call's key, so a function's NATS user that may publish only its own
// jetsync-reply.<function>.> cannot answer another prefix's callers.
func ReplySubject(function, token string) string { return ReplyRoot + "." + function + "." + token }

// ReplyStream is the name of the write-through reply stream of the change
// stream name.
func ReplyStream(stream string) string { return stream + "_REPLIES" }

// EnsureReplyStream creates (or updates) the stream functions answer
// write-through calls on: subjects jetsync-reply.>, kept for an hour, with as
// many replicas as the change stream.
func EnsureReplyStream(ctx context.Context, js jetstream.JetStream, stream string, replicas int) (jetstream.Stream, error) {
	return ensure(ctx, js, replyConfig(stream, replicas))
}

// UseReplyStream is EnsureReplyStream for functions: an existing reply
// stream is used as it is.
func UseReplyStream(ctx context.Context, js jetstream.JetStream, stream string, replicas int) (jetstream.Stream, error) {
	return use(ctx, js, replyConfig(stream, replicas))
}

func replyConfig(stream string, replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        ReplyStream(stream),
		Description: "jetsync write-through answers: committed or refused",
		Subjects:    []string{ReplyRoot + ".>"},
		MaxAge:      time.Hour,
		Replicas:    supportReplicas(stream, replicas),
	}
}

// StreamReplicas is how many replicas stream has; 1 when it cannot be read
// (the support streams a function creates then start at one replica, and
// the bridge raises them to its JETSYNC_STREAM_REPLICAS).
func StreamReplicas(ctx context.Context, js jetstream.JetStream, stream string) int {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 1
	}
	return max(1, s.CachedInfo().Config.Replicas)
}

// DeadLetterFilter is the subject filter of function's dead letters.
func DeadLetterFilter(function string) string { return DeadLetterRoot + "." + function + ".>" }

// CountDeadLetters is how many dead letters of function the dead-letter
// stream of stream holds (0 when it does not exist yet).
func CountDeadLetters(ctx context.Context, js jetstream.JetStream, stream, function string) (uint64, error) {
	s, err := js.Stream(ctx, DeadLetterStream(stream))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(DeadLetterFilter(function)))
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n, nil
}

// EachDeadLetter calls f with every dead letter of function in the
// dead-letter stream s, oldest first; with headersOnly, without their
// bodies. Dead letters purged meanwhile are skipped.
func EachDeadLetter(ctx context.Context, s jetstream.Stream, function string, headersOnly bool, f func(jetstream.Msg) error) error {
	filter := DeadLetterFilter(function)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return err
	}
	total := 0
	for _, n := range info.State.Subjects {
		total += int(n)
	}
	if total == 0 {
		return nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}, HeadersOnly: headersOnly})
	if err != nil {
		return err
	}
	for read := 0; read < total; {
		batch, err := cons.Fetch(min(total-read, 500), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			if err := f(m); err != nil {
				return err
			}
		}
		if got == 0 {
			return nil // purged meanwhile
		}
		read += got
	}
	return nil
}
