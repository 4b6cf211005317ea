package platform

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nats://u:pw@a:4222,tls://b:4222", "nats://[redacted]@a:4222,tls://b:4222"},
		{"nats://u:pw@a:4222,nats://v:pw@b:4222", "nats://[redacted]@a:4222,nats://[redacted]@b:4222"},
		{"nats://s3cr3t-token@a:4222", "nats://[redacted]@a:4222"},
		{"redis://:pw@r:6379/0", "redis://[redacted]@r:6379/0"},
		{"rediss://default:p@ss@r:6379", "rediss://[redacted]@r:6379"},
		{"postgres://u:pw@h:5432/db?sslmode=verify-full", "postgres://[redacted]@h:5432/db?sslmode=verify-full"},
		{"sqlserver://sa:pw@h:1433?database=test&password=pw2", "sqlserver://[redacted]@h:1433?database=test&password=[redacted]"},
		{"dial u:pw@tcp(h:3306)/test failed", "dial [redacted]@tcp(h:3306)/test failed"},
		{`addr "u:pw@h:6379"`, `addr "[redacted]@h:6379"`},
		{"host=h user=u password=pw dbname=d", "host=h user=u password=[redacted] dbname=d"},
		{"host=h password='p w' sslpassword=x", "host=h password=[redacted] sslpassword=[redacted]"},
		{"JETSYNC_NATS_TOKEN=tok JETSYNC_NATS_PASSWORD_FILE=/run/secrets/p", "JETSYNC_NATS_TOKEN=[redacted] JETSYNC_NATS_PASSWORD_FILE=/run/secrets/p"},
		{"nats://h:4222", "nats://h:4222"},
		{"key person:1 seq=3", "key person:1 seq=3"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestLoggerRedacts: the process logger redacts the message, string
// attributes, errors, Stringers, groups and With attributes, in both
// formats; a plain slog handler (the control) prints the password.
func TestLoggerRedacts(t *testing.T) {
	log := func(l *slog.Logger) {
		err := fmt.Errorf("connect: %w", errors.New("dial nats://u:hunter2@h:4222: refused"))
		l.With("dsn", "u:hunter2@tcp(h:3306)/db").WithGroup("g").Error("cannot reach nats://u:hunter2@h:4222",
			"err", err, "url", "redis://:hunter2@r:6379", slog.Group("conn", "params", "password=hunter2"))
	}
	for _, format := range []string{"json", "text"} {
		var b strings.Builder
		log(NewLogger(LogConfig{Format: format, Level: "info"}, &b))
		if strings.Contains(b.String(), "hunter2") || strings.Count(b.String(), Redacted) != 5 {
			t.Errorf("%s: %s", format, b.String())
		}
	}
	var b strings.Builder
	log(slog.New(slog.NewJSONHandler(&b, nil)))
	if !strings.Contains(b.String(), "hunter2") {
		t.Fatalf("control: a plain handler did not print the password: %s", b.String())
	}
}

func TestNoCredentials(t *testing.T) {
	if err := NoCredentials("JETSYNC_X_ADDR", "h:1"); err != nil {
		t.Fatal(err)
	}
	err := NoCredentials("JETSYNC_X_ADDR", "u:hunter2@h:1")
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "JETSYNC_X_ADDR") {
		t.Fatalf("NoCredentials: %v", err)
	}
}
