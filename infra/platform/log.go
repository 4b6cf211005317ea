package platform

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// LogConfig selects the log format and level.
type LogConfig struct {
	// Format is "json", "text", or "auto": text on a terminal, JSON otherwise.
	Format string `envconfig:"LOG_FORMAT" default:"auto"`
	// Level is debug, info, warn or error.
	Level string `envconfig:"LOG_LEVEL" default:"info"`
}

// Validate checks the format and level names.
func (c LogConfig) Validate() error {
	switch c.Format {
	case "auto", "json", "text":
	default:
		return fmt.Errorf("JETSYNC_LOG_FORMAT=%q: use auto, json or text", c.Format)
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.Level)); err != nil {
		return fmt.Errorf("JETSYNC_LOG_LEVEL=%q: use debug, info, warn or error", c.Level)
	}
	return nil
}

// NewLogger returns the logger of c, writing to w (os.Stderr when nil).
// It redacts every message, string attribute and error (Redact).
func NewLogger(c LogConfig, w io.Writer) *slog.Logger {
	if w == nil {
		w = os.Stderr
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // Validate reported a bad level; info is the zero value
	opts := &slog.HandlerOptions{Level: level}
	format := strings.ToLower(c.Format)
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(redacting{slog.NewTextHandler(w, opts)})
	}
	return slog.New(redacting{slog.NewJSONHandler(w, opts)})
}
