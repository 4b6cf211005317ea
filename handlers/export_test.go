package handlers

// WithoutEpochFence is a test hook: r orders changes by their stream
// sequence alone, as if no bridge generation could be superseded.
func WithoutEpochFence(r *Runner) { r.epochs.off = true }

// WithoutDeadLettersInPruneHorizon is a test hook: r prunes up to the
// change stream's first sequence, leaving its dead letters' orders out.
func WithoutDeadLettersInPruneHorizon(r *Runner) { r.pruneIgnoresDeadLetters = true }

// WithoutPruneMark is a test hook: r applies changes below its pruning mark
// as any other.
func WithoutPruneMark(r *Runner) { r.pruneMarkOff = true }

// WithoutKeepAlive is a test hook: r does not keep the messages it holds in
// progress, so JetStream redelivers them after AckWait.
func WithoutKeepAlive(r *Runner) { r.keepAliveOff = true }

// WithKeyIDs is a test hook: r tells a history function's changes apart by
// key and order, so an older change of a key arriving late is stale.
func WithKeyIDs(r *Runner) { r.keyIDs = true }

// WithoutIsolation is a test hook: a permanent failure dead-letters r's
// whole batch instead of the guilty change alone.
func WithoutIsolation(r *Runner) { r.noIsolation = true }

// WithoutFiledSet is a test hook: r files a refused change again at every
// retry of its batch.
func WithoutFiledSet(r *Runner) { r.filedOff = true }

// WithoutAttemptDeadline is a test hook: r's write attempts have no
// deadline, and one that runs long is not reported as degraded.
func WithoutAttemptDeadline(r *Runner) { r.unbounded = true }

// WithoutVersionCheck is a test hook: r registers its consumer whatever
// version owns it, as if an older version could not be told apart.
func WithoutVersionCheck(r *Runner) { r.versionCheckOff = true }

// WithoutReplayGuards is a test hook: r writes a replay's changes without
// sequence guards, so a replayed change is applied whatever newer change of
// its key was applied already.
func WithoutReplayGuards(r *Runner) { r.replayUnguarded = true }
