package bridge

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/redis/go-redis/v9"
)

// NoPermError is a command the Redis ACL user may not run: Redis says only
// "NOPERM", this says which user, which command and which key or channel,
// so that the missing right is found without reading the ACL log.
type NoPermError struct {
	User    string // "default" when none is configured
	Command string // as Redis names it: "hgetall", "config|get", "psubscribe"
	Args    string // the key or channel arguments, shortened
	Err     error  // Redis's reply
}

func (e *NoPermError) Error() string {
	what := e.Command
	if e.Args != "" {
		what += " " + e.Args
	}
	return fmt.Sprintf("the Redis user %q may not run %s (%v): grant it, the README's Security section lists the rights of each mode", e.User, what, e.Err)
}

func (e *NoPermError) Unwrap() error { return e.Err }

// isNoPerm reports whether err is Redis's ACL refusal.
func isNoPerm(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOPERM")
}

// noPermArgs shortens a command's arguments for a message: the first few,
// each cut; values a secret may be in (AUTH, HELLO) are left out.
func noPermArgs(name string, args []any) string {
	switch strings.Split(name, "|")[0] {
	case "auth", "hello", "acl", "migrate", "function", "eval", "script":
		return "" // secrets, or code
	}
	var parts []string
	for i, a := range args {
		if i == 3 {
			parts = append(parts, "...")
			break
		}
		s, _, _ := strings.Cut(fmt.Sprint(a), "\n")
		if len(s) > 64 {
			s = s[:64] + "..."
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// noPermHook turns every NOPERM reply into a NoPermError naming the user,
// the command and its keys.
type noPermHook struct{ user string }

func (noPermHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h noPermHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if isNoPerm(err) {
			err = h.wrap(cmd, err)
		}
		return err
	}
}

func (h noPermHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		var first error
		for _, cmd := range cmds {
			if isNoPerm(cmd.Err()) {
				e := h.wrap(cmd, cmd.Err())
				if first == nil {
					first = e
				}
			}
		}
		if isNoPerm(err) && first != nil {
			err = first
		}
		return err
	}
}

// refusedCommand is the command a NOPERM reply names: "... to run the
// 'config|get' command".
var refusedCommand = regexp.MustCompile(`'([a-z_|-]+)' command`)

func (h noPermHook) wrap(cmd redis.Cmder, err error) error {
	args := cmd.Args()
	name := cmd.Name()
	if m := refusedCommand.FindStringSubmatch(err.Error()); m != nil {
		name = m[1] // with its subcommand
	}
	var rest []any
	if n := len(strings.Split(name, "|")); len(args) > n {
		rest = args[n:]
	}
	e := &NoPermError{User: h.user, Command: name, Args: noPermArgs(name, rest), Err: err}
	cmd.SetErr(e)
	return e
}

// subscribeNoPerm names the patterns a refused PSUBSCRIBE asked for.
func (c RedisConfig) subscribeNoPerm(err error, patterns []string) error {
	if !isNoPerm(err) {
		return err
	}
	return &NoPermError{User: c.user(), Command: "psubscribe", Args: strings.Join(patterns, " "), Err: err}
}

// user is the ACL user the bridge authenticates as.
func (c RedisConfig) user() string {
	if c.Username == "" {
		return "default"
	}
	return c.Username
}
