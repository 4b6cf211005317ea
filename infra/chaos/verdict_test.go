package chaos

import (
	"testing"
	"time"
)

func TestExcuse(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	down := []Interval{{From: t0.Add(10 * time.Second), To: t0.Add(12 * time.Second), Killed: true},
		{From: t0.Add(20 * time.Second), To: t0.Add(22 * time.Second)}}
	row := []string{"a", "NULL", "NULL"}
	tests := []struct {
		name    string
		m       Mismatch
		deleted time.Time // zero: never deleted
		want    string
	}{
		{"deleted while down", Mismatch{ID: "1", Table: row}, t0.Add(11 * time.Second), "down"},
		{"deleted at the kill", Mismatch{ID: "1", Table: row}, t0.Add(10 * time.Second), "down"},
		{"deleted just before the kill", Mismatch{ID: "1", Table: row}, t0.Add(9500 * time.Millisecond), "queued"},
		{"deleted long before the kill", Mismatch{ID: "1", Table: row}, t0.Add(5 * time.Second), ""},
		{"deleted just before a clean stop", Mismatch{ID: "1", Table: row}, t0.Add(19500 * time.Millisecond), ""},
		{"deleted during a clean stop", Mismatch{ID: "1", Table: row}, t0.Add(21 * time.Second), "down"},
		{"deleted after the restart", Mismatch{ID: "1", Table: row}, t0.Add(13 * time.Second), ""},
		{"never deleted", Mismatch{ID: "1", Table: row}, time.Time{}, ""},
		{"key in Redis, wrong row", Mismatch{ID: "1", Redis: []string{"b", "NULL", "NULL"}, Table: row}, t0.Add(11 * time.Second), ""},
		{"row missing", Mismatch{ID: "1", Redis: row}, t0.Add(11 * time.Second), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			last := map[string]time.Time{}
			if !tt.deleted.IsZero() {
				last[tt.m.ID] = tt.deleted
			}
			if got := Excuse(tt.m, last, down); got != tt.want {
				t.Fatalf("Excuse = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCovered(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	ivs := []Interval{{From: at(5), To: at(7)}, {From: at(0), To: at(2)}, {From: at(1), To: at(3)}, {From: at(6), To: at(6.5)}}
	if got := covered(ivs); got != 5*time.Second {
		t.Fatalf("covered = %s, want 5s", got)
	}
	if got := covered(nil); got != 0 {
		t.Fatalf("covered(nil) = %s", got)
	}
}

func TestObserve(t *testing.T) {
	seen := map[string]int{}
	lost := func(id string, seq int) bool { return id == "3" && seq == 8 } // key 3's v8 was not replicated
	for _, tc := range []struct {
		id, f1    string
		bad, lost bool
	}{
		{"1", "v5", false, false}, {"1", "v5", false, false}, {"1", "v9", false, false},
		{"2", "v3", false, false}, {"1", "v7", true, false}, {"1", "v9", false, false}, {"1", "x", false, false},
		// Back from a write Redis lost: its loss; v6 is the new baseline.
		{"3", "v8", false, false}, {"3", "v6", false, true}, {"3", "v6", false, false}, {"3", "v4", true, false},
	} {
		got, redisLost := observe(seen, tc.id, tc.f1, lost)
		if (got != "") != tc.bad || redisLost != tc.lost {
			t.Fatalf("observe(%s, %s) = %q, %v; want a regression: %v, lost by Redis: %v", tc.id, tc.f1, got, redisLost, tc.bad, tc.lost)
		}
	}
}

// TestHistoryLossFails: a history that lacks more changes of the stream
// than were stored late by a superseded bridge fails the run.
func TestHistoryLossFails(t *testing.T) {
	s := Summary{Published: 100, HistoryRows: 100, HistorySeqs: 100}
	if !s.OK() {
		t.Fatal("a complete history failed")
	}
	s.HistoryRows, s.HistorySeqs = 99, 99
	if s.OK() {
		t.Fatal("a history lacking one change passed")
	}
	s.Late = 1
	if !s.OK() {
		t.Fatal("a history lacking one late change failed")
	}
}

// TestLongOutageFails: an excused interval longer than MaxDown fails the
// run, whatever it excused.
func TestLongOutageFails(t *testing.T) {
	s := Summary{LongestDown: MaxDown}
	if !s.OK() {
		t.Fatal("an interval of MaxDown failed")
	}
	s.LongestDown = MaxDown + time.Millisecond
	if s.OK() {
		t.Fatal("an interval longer than MaxDown passed")
	}
}
