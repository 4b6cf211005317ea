//go:build testhooks

package handlers

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Test hooks of a binary built with -tags testhooks, for the tests that run
// the real process and kill it (they cannot reach a Runner's fields).
// JETSYNC_TEST_HOOKS lists them, comma-separated:
//
//	write-pause=DUR    pause before each batch is written, so that a kill
//	                   lands while the function holds a batch it has not
//	                   committed
//	ack-before-commit  ack a batch's messages before writing it: what the
//	                   ack-after-commit rule prevents (a crash loses them)
//	reply-before-commit
//	                   answer a batch's write-through callers "done" before
//	                   writing it: what answering after the commit prevents
//	                   (a caller returns before its row is there)
func init() {
	envHooks = func(r *Runner) error {
		for _, h := range strings.Split(os.Getenv("JETSYNC_TEST_HOOKS"), ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(h), "=")
			switch name {
			case "":
			case "write-pause":
				d, err := time.ParseDuration(value)
				if err != nil {
					return fmt.Errorf("JETSYNC_TEST_HOOKS: write-pause=%q: %w", value, err)
				}
				r.writePause = d
			case "ack-before-commit":
				r.ackFirst = true
			case "reply-before-commit":
				r.answerFirst = true
			default:
				return fmt.Errorf("JETSYNC_TEST_HOOKS: unknown hook %q", name)
			}
		}
		return nil
	}
}
