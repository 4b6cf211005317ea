package chaos

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary is what one chaos run found.
type Summary struct {
	Seed     int64
	Duration time.Duration
	// Keys touched by the load; RedisKeys and Rows at the end.
	Keys, RedisKeys, Rows int
	// Changes made by the load, by kind; Published: messages in the stream.
	Changes, Upserts, Removals, Deletes, Published int
	Faults                                         map[string]int
	// BridgeDown: the excused intervals together; LongestDown: the longest
	// (the run fails above MaxDown).
	BridgeDown, LongestDown time.Duration
	// Mismatches not excused; ExcusedDown: keys deleted while no bridge was
	// subscribed; ExcusedQueued: deleted just before a bridge SIGKILL.
	Mismatches                 []Mismatch
	ExcusedDown, ExcusedQueued int
	// History of the append-mode function: rows, distinct jetsync_seq,
	// and rows that repeat a sequence (applied twice).
	HistoryRows, HistorySeqs, Duplicates int
	// HistoryStale: changes the append function refused as stale since its
	// last start (from its metrics).
	HistoryStale int
	// Late: changes stored after a newer epoch marker of their lease than
	// their own (a partitioned bridge's late publishes): a history function
	// refuses those its key's newer generation wrote.
	Late        int
	DeadLetters int
	// Failed: load operations Redis refused (restarting, busy); they are
	// not in Changes.
	Failed int
	// Samples of the table taken during the run, and the rows whose f1 (a
	// per-key rising counter) went down between two samples.
	Samples     int
	Regressions []string
	// LostByRedis: rows that went back, or differ from Redis at the end,
	// because Redis lost their key's last write in a failover (the replica
	// had not confirmed it): Redis's loss, not jetsync's, counted apart.
	LostByRedis int
	// Journal mode's prefix: changes made through the jetsync_* functions,
	// its keys and rows at the end, and every difference (none is excused).
	JournalChanges, JournalKeys, JournalRows int
	JournalMismatches                        []Mismatch
}

// OK is true when nothing is wrong: no unexcused mismatch, no counter that
// went down, no duplicate, no change missing from the history but a
// superseded bridge's late ones, no dead letter (every change of the load
// is valid), and no excused interval longer than MaxDown.
func (s *Summary) OK() bool {
	return len(s.Mismatches) == 0 && len(s.JournalMismatches) == 0 && len(s.Regressions) == 0 && s.Duplicates == 0 && s.DeadLetters == 0 &&
		s.HistoryLoss() <= s.Late && s.LongestDown <= MaxDown
}

// HistoryLoss is how many changes in the stream the history table lacks: a
// history function keeps every change but a superseded bridge's late ones
// where the newer generation wrote their key, so it may lack at most Late.
func (s *Summary) HistoryLoss() int { return max(0, s.Published-s.HistorySeqs) }

// Write prints the summary for people.
func (s *Summary) Write(out io.Writer) {
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	faults, kinds := 0, []string{}
	for _, k := range FaultKinds {
		if n, ok := s.Faults[k.Name]; ok {
			faults += n
			kinds = append(kinds, fmt.Sprintf("%s %d", k.Label, n))
		}
	}
	fmt.Fprintf(w, "duration\t%s (seed %d)\n", s.Duration, s.Seed)
	fmt.Fprintf(w, "keys\t%d touched; %d in Redis at the end, %d rows\n", s.Keys, s.RedisKeys, s.Rows)
	fmt.Fprintf(w, "changes\t%d (upserts %d, field removals %d, deletes %d); %d published by the bridge; %d refused by Redis (restarting, busy)\n", s.Changes, s.Upserts, s.Removals, s.Deletes, s.Published, s.Failed)
	fmt.Fprintf(w, "faults injected\t%d (%s)\n", faults, strings.Join(kinds, ", "))
	fmt.Fprintf(w, "no bridge subscribed (observed)\t%s in total, the longest %s (at most %s)\n", s.BridgeDown.Round(time.Millisecond), s.LongestDown.Round(time.Millisecond), MaxDown)
	fmt.Fprintf(w, "journal mode\t%d changes; %d keys in Redis at the end, %d rows; %d mismatches (none excused)\n", s.JournalChanges, s.JournalKeys, s.JournalRows, len(s.JournalMismatches))
	fmt.Fprintf(w, "mismatches (notification mode)\t%d\n", len(s.Mismatches))
	fmt.Fprintf(w, "counter regressions (a row went back to an older change)\t%d in %d samples of the table\n", len(s.Regressions), s.Samples)
	fmt.Fprintf(w, "excused: deleted while no bridge was subscribed\t%d\n", s.ExcusedDown)
	fmt.Fprintf(w, "excused: deleted < %s before a bridge SIGKILL (queued in it)\t%d\n", QueuedWindow, s.ExcusedQueued)
	fmt.Fprintf(w, "not jetsync's: writes Redis lost in a failover (not confirmed by the replica)\t%d\n", s.LostByRedis)
	fmt.Fprintf(w, "duplicates (append mode, same jetsync_seq)\t%d (history: %d rows, %d distinct sequences)\n", s.Duplicates, s.HistoryRows, s.HistorySeqs)
	fmt.Fprintf(w, "history: changes in the stream not in it\t%d (at most the %d stored late by a superseded bridge; refused as stale since the append function's last start: %d)\n", s.HistoryLoss(), s.Late, s.HistoryStale)
	fmt.Fprintf(w, "dead letters\t%d\n", s.DeadLetters)
	fmt.Fprintf(w, "result\t%s\n", map[bool]string{true: "PASS", false: "FAIL"}[s.OK()])
	w.Flush()
	for i, m := range s.Regressions {
		if i == 20 {
			fmt.Fprintf(out, "... and %d more\n", len(s.Regressions)-20)
			break
		}
		fmt.Fprintf(out, "regression: %s\n", m)
	}
	for i, m := range s.JournalMismatches {
		if i == 20 {
			fmt.Fprintf(out, "... and %d more\n", len(s.JournalMismatches)-20)
			break
		}
		fmt.Fprintf(out, "journal mismatch: key %s: redis %v, table %v\n", m.ID, orNil(m.Redis), orNil(m.Table))
	}
	for i, m := range s.Mismatches {
		if i == 20 {
			fmt.Fprintf(out, "... and %d more\n", len(s.Mismatches)-20)
			break
		}
		fmt.Fprintf(out, "mismatch: key %s: redis %v, table %v\n", m.ID, orNil(m.Redis), orNil(m.Table))
	}
}

func orNil(v []string) string {
	if v == nil {
		return "(none)"
	}
	return strings.Join(v, "|")
}
