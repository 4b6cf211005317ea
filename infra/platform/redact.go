package platform

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
)

// redactOff is a test hook (redact_testhooks.go): Redact returns its
// input unchanged.
var redactOff bool

// Redacted stands in for a secret in every message.
const Redacted = "[redacted]"

// The shapes of text that carry a credential inside an address:
//   - the user info of a URL: nats://user:pass@host, redis://:pass@host,
//     nats://token@host, postgres://user:pass@host;
//   - a go-sql-driver DSN, user:pass@tcp(host) (or @unix(, @();
//   - host:port given with credentials: user:pass@host:6379;
//   - a keyword, query parameter or variable: password=..., ?token=...,
//     JETSYNC_NATS_PASSWORD=...
var (
	urlUserInfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/\s"',]*@`)
	dsnUserInfo = regexp.MustCompile(`(^|[\s"'=,;(])[^\s"'=,;(/@]*:[^\s"'@/]*@((tcp|unix)?\(|[^\s"'@/:]+:\d)`)
	keyword     = regexp.MustCompile(`(?i)([A-Za-z0-9_]*(?:password|passwd|pwd|token|secret))=("[^"]*"|'[^']*'|[^\s&;,"']*)`)
)

// Redact returns s with every credential an address or DSN may carry
// replaced by [redacted]: URL user info, a go-sql-driver user:pass@, and
// password=, token=, secret= keywords and query parameters. It is the one
// place that knows those shapes: configuration errors pass the values they
// echo through it, and the process logger passes every message, string
// attribute and error (NewLogger), so that a value given in the wrong
// variable cannot reach a log either.
func Redact(s string) string {
	if redactOff || !strings.ContainsAny(s, "@=") {
		return s
	}
	s = urlUserInfo.ReplaceAllString(s, "${1}"+Redacted+"@")
	s = dsnUserInfo.ReplaceAllStringFunc(s, func(m string) string {
		sub := dsnUserInfo.FindStringSubmatch(m)
		return sub[1] + Redacted + "@" + sub[2]
	})
	return keyword.ReplaceAllString(s, "${1}="+Redacted)
}

// redacting is a slog handler that redacts the message, every string
// attribute and every error (Redact) before its inner handler writes them.
type redacting struct{ inner slog.Handler }

func (h redacting) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h redacting) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Redact(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h redacting) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = redactAttr(a)
	}
	return redacting{h.inner.WithAttrs(red)}
}

func (h redacting) WithGroup(name string) slog.Handler { return redacting{h.inner.WithGroup(name)} }

// redactAttr redacts a string, an error or a fmt.Stringer value, and the
// attributes of a group.
func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Redact(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, m := range g {
			red[i] = redactAttr(m)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, Redact(x.Error()))
		case interface{ String() string }:
			return slog.String(a.Key, Redact(x.String()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// NoCredentials refuses an address (host:port, a list of them, a connect
// string) that carries credentials, user:pass@host: they belong in the
// user and password variables, which are secrets. The message does not
// echo the value.
func NoCredentials(variable, value string) error {
	if strings.Contains(value, "@") {
		return fmt.Errorf("%s holds credentials ('@'): give the user and the password in their own variables (the password as a secret)", variable)
	}
	return nil
}
