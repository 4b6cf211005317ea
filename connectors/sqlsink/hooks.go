package sqlsink

import "time"

// WithSlowGuard is a test hook for the connectors' tests: s pauses for d
// between its guard and its rows, as a slow instance would, and with
// unlocked it reads the applied orders with a plain read instead of
// claiming the keys, and raises them after the rows — the guard whose race
// the claim closes, for the control tests that show it.
func WithSlowGuard(s *Sink, d time.Duration, unlocked bool) {
	s.pause, s.unlocked = d, unlocked
}
