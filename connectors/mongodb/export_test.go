package mongodb

import "time"

// SetSlowGuard makes s pause before each round of bulk writes and, unguarded, write
// without the sequence condition: the control of the row guard.
func SetSlowGuard(s *Sink, pause time.Duration, unguarded bool) {
	s.pause, s.unguarded = pause, unguarded
}
