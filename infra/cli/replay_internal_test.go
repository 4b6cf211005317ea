package cli

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseReplay(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		args []string
		want replayArgs
		err  bool
	}{
		{args: []string{"persons", "--all"}, want: replayArgs{function: "persons", all: true}},
		{args: []string{"persons", "--from-seq", "42", "--truncate"}, want: replayArgs{function: "persons", fromSeq: 42, truncate: true}},
		{args: []string{"persons", "--from-seq=42"}, want: replayArgs{function: "persons", fromSeq: 42}},
		{args: []string{"persons", "--since", "90m"}, want: replayArgs{function: "persons", since: now.Add(-90 * time.Minute)}},
		{args: []string{"persons", "--since", "2026-01-01T00:00:00Z", "--restart"}, want: replayArgs{function: "persons", since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), restart: true}},
		{args: []string{"persons"}, want: replayArgs{function: "persons"}},
		{args: []string{"persons", "--all", "--since", "1h"}, err: true},
		{args: []string{"persons", "--from-seq", "0"}, err: true},
		{args: []string{"persons", "--from-seq"}, err: true},
		{args: []string{"persons", "--truncate"}, err: true},
		{args: []string{"--all"}, err: true},
		{args: []string{"persons", "cars", "--all"}, err: true},
		{args: []string{"persons", "--frobnicate"}, err: true},
	} {
		got, err := parseReplay(tt.args, now)
		if tt.err {
			if !errors.Is(err, errUsage) {
				t.Errorf("%v: %v, want a usage error", tt.args, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%v: %+v, %v; want %+v", tt.args, got, err, tt.want)
		}
	}
}

func TestProgressLine(t *testing.T) {
	began := time.Now().Add(-5 * time.Second)
	first := &replayStatus{Done: 0, Total: 100}
	bar := progressLine("persons", replayStatus{Done: 50, Total: 100}, first, began, true)
	if !strings.HasPrefix(bar, "replay persons [###############...............] 50/100  50.0% 10/s ETA 5s") {
		t.Errorf("bar: %q", bar)
	}
	plain := progressLine("persons", replayStatus{Done: 0, Total: 100}, first, began, false)
	if plain != "replay persons: 0/100   0.0% 0/s ETA --" {
		t.Errorf("plain: %q", plain)
	}
}
