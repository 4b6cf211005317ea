package mysql

import "time"

// WithSlowGuard is a test hook: s pauses for d between its guard and its
// rows, as a slow instance would, and with unlocked reads the applied
// sequences without claiming the keys' rows first, as jetsync's guard once
// did, so that a control test can show what the claim prevents.
func WithSlowGuard(s *Sink, d time.Duration, unlocked bool) *Sink {
	s.guardPause, s.unlockedGuard = d, unlocked
	return s
}
