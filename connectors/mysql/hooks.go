package mysql

// WithPasswordReadOnce is a test hook, for the control of credential
// rotation: c's JETSYNC_MYSQL_PASSWORD_FILE is read once, when the sink
// opens, instead of before every new connection, so a rotated file is not
// followed.
func WithPasswordReadOnce(c *Config) { c.passwordOnce = true }
