package change

// Metadata of the durable consumers jetsync creates, written by the
// function runtime and `jetsync replay` and read by `jetsync status` and
// the runtime.
const (
	// MetaVersion is the version of the function that registered a
	// function's consumer; MetaPrefix the prefix it consumes.
	MetaVersion = "jetsync_version"
	MetaPrefix  = "jetsync_prefix"

	// Metadata of a replay consumer (see ReplayConsumer). `jetsync replay`
	// creates the consumer with the first three; the runtime adds the
	// others.

	// MetaReplayOf names the function the replay is for.
	MetaReplayOf = "jetsync_replay_of"
	// MetaReplayStart is the first stream sequence of the replay (for
	// progress).
	MetaReplayStart = "jetsync_replay_start"
	// MetaReplayEnd is the stream's last sequence when the replay was asked
	// for: the replay stops after it.
	MetaReplayEnd = "jetsync_replay_end"
	// MetaReplayTruncate is "true" when the function must empty its tables
	// and forget its sequence guards before replaying.
	MetaReplayTruncate = "jetsync_replay_truncate"
	// MetaReplayTruncated is "true" once that is done, so that a resumed
	// replay does not truncate again.
	MetaReplayTruncated = "jetsync_replay_truncated"
	// MetaReplayError is set when the function cannot carry out the replay
	// (e.g. truncation asked of a function that cannot truncate).
	MetaReplayError = "jetsync_replay_error"
)

// ReplayConsumer is the name of the durable consumer that replays history
// to function; `jetsync replay` creates it and the runtime deletes it when
// the replay is done.
func ReplayConsumer(function string) string { return function + "_replay" }
