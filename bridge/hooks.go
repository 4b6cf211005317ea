package bridge

// WithoutCallOrder is a test hook for tests outside this package: the
// bridge completes write-through calls in the order their answers arrive,
// not in the order of the calls on each key.
func WithoutCallOrder(c *Config) { c.hooks.noCallOrder = true }
