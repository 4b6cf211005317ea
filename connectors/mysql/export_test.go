package mysql

// WithUnlockedGuard is a test hook: s reads the applied sequences without
// claiming the keys' rows first, as jetsync's guard once did, so that a
// control test can show what the claim prevents.
func WithUnlockedGuard(s *Sink) *Sink {
	s.unlockedGuard = true
	return s
}
