package handlers

// WithoutEpochFence is a test hook: r orders changes by their stream
// sequence alone, as if no bridge generation could be superseded.
func WithoutEpochFence(r *Runner) { r.epochs.off = true }
