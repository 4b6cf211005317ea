//go:build testhooks

package platform

import "os"

// In a binary built with -tags testhooks, JETSYNC_TEST_NO_REDACT=1 turns
// Redact off: the control of the test that greps every output for a
// password (TestNoSecretInAnyMessage).
func init() { redactOff = os.Getenv("JETSYNC_TEST_NO_REDACT") != "" }
