package table

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jetsync/jetsync/bridge/change"
)

// `jetsync-table verify` compares the function's table with the keys of its
// prefix in Redis, through the same mapping and type rules as the apply
// path, and reports what differs: verify.go (flags and report),
// verifier.go (the walk), repair.go (repair through the bridge),
// verifycmd.go (the command around them).

// VerifyUsage is how verify is called, for the binary's usage.
const VerifyUsage = "[--json] [--examples N] [--settle D] [--repair [--yes] [--delete-gone]]"

// VerifySummary says what verify does, for the binary's usage.
const VerifySummary = "compare the table with the prefix's keys in Redis (JETSYNC_REDIS_*); exit 0 when equal, 1 when not, 2 on error"

// VerifyOptions are verify's flags.
type VerifyOptions struct {
	// JSON prints the report as JSON instead of text.
	JSON bool
	// Examples is how many differences of each kind the report names.
	Examples int
	// Settle is how long verify waits before it checks each difference
	// again (after the function has caught up): a key written while it ran
	// is not drift.
	Settle time.Duration
	// Repair turns each confirmed difference into a change through the
	// bridge; a dry run unless Yes. DeleteGone deletes the rows whose key
	// is gone even where the bridge keeps them (expired keys).
	Repair, Yes, DeleteGone bool
}

// VerifyHelp describes verify's flags.
const VerifyHelp = `usage: jetsync-table verify ` + VerifyUsage + `

Compares the function's table with the keys of its prefix in Redis (reached
through JETSYNC_REDIS_*, values of type JETSYNC_VALUE_TYPE) through the
function's mapping and the table's types, and reports rows missing, rows with
other values, rows whose key is gone and keys that cannot be rows (bad).

  --json            print the report as JSON
  --examples N      name up to N differences of each kind (default 5)
  --settle D        wait D, and for the function to catch up, before checking
                    each difference again (default 2s)
  --repair          turn each difference into a change through the bridge
                    (dry run: says what it would do)
  --yes             with --repair: do it
  --delete-gone     with --repair: delete rows whose key is gone even where
                    the bridge keeps rows of expired keys

Exit status: 0 the table equals Redis, 1 differences, 2 usage or error.
`

// ErrUsage marks errors in verify's arguments (exit status 2); ErrHelp is
// ParseVerify's answer to --help.
var (
	ErrUsage = errors.New("usage")
	ErrHelp  = errors.New("help requested")
)

// ParseVerify reads verify's flags (the arguments after "verify"); its
// errors wrap ErrUsage and say what is wrong.
func ParseVerify(args []string) (VerifyOptions, error) {
	o := VerifyOptions{Examples: 5, Settle: 2 * time.Second}
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&o.JSON, "json", false, "")
	fs.IntVar(&o.Examples, "examples", o.Examples, "")
	fs.DurationVar(&o.Settle, "settle", o.Settle, "")
	fs.BoolVar(&o.Repair, "repair", false, "")
	fs.BoolVar(&o.Yes, "yes", false, "")
	fs.BoolVar(&o.DeleteGone, "delete-gone", false, "")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return o, ErrHelp
	} else if err != nil {
		return o, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("%w: unexpected %q", ErrUsage, fs.Arg(0))
	case o.Examples < 0:
		return o, fmt.Errorf("%w: --examples %d: want 0 or more", ErrUsage, o.Examples)
	case o.Settle < 0:
		return o, fmt.Errorf("%w: --settle %s: must not be negative", ErrUsage, o.Settle)
	case (o.Yes || o.DeleteGone) && !o.Repair:
		return o, fmt.Errorf("%w: --yes and --delete-gone go with --repair", ErrUsage)
	}
	return o, nil
}

// Difference is one key or row where the table and Redis differ.
type Difference struct {
	Kind   string `json:"kind"`
	Key    string `json:"key"`
	Detail string `json:"detail"`
}

// Report is what verify found.
type Report struct {
	change.VerifyResult
	Connector string `json:"connector"`
	// Examples are up to VerifyOptions.Examples differences of each kind,
	// the first keys in byte order.
	Examples map[string][]Difference `json:"examples"`
	// Rechecked is how many differences of the first pass were looked at
	// again after the settle time; those not confirmed are not counted.
	Rechecked int64 `json:"rechecked"`
	// Repair is what repair did or, in a dry run, would do.
	Repair *RepairSummary `json:"repair,omitempty"`
}

// Total is the number of confirmed differences.
func (r Report) Total() int64 {
	var n int64
	for _, c := range r.Differences {
		n += c
	}
	return n
}

// Summary is the report's first line.
func (r Report) Summary() string {
	head := fmt.Sprintf("verify %s: %s of %s in Redis, %s in %s", r.Function, plural(r.Keys, "key"), r.Prefix, plural(r.Rows, "row"), r.Table)
	took := time.Duration(r.Seconds * float64(time.Second)).Round(100 * time.Millisecond)
	if r.Total() == 0 {
		return fmt.Sprintf("%s: the table equals Redis (%s)", head, took)
	}
	var parts []string
	for _, k := range change.Kinds {
		if n := r.Differences[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	return fmt.Sprintf("%s: %s (%s) in %s", head, plural(r.Total(), "difference"), strings.Join(parts, ", "), took)
}

// plural is "1 key", "2 keys".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// WriteText writes the summary, the examples, one per line, and what
// repair did.
func (r Report) WriteText(w io.Writer) {
	fmt.Fprintln(w, r.Summary())
	for _, k := range change.Kinds {
		for _, d := range r.Examples[k] {
			fmt.Fprintf(w, "  %-9s  %s  %s\n", d.Kind, strconv.Quote(d.Key), d.Detail)
		}
		if n := r.Differences[k]; n > int64(len(r.Examples[k])) && len(r.Examples[k]) > 0 {
			fmt.Fprintf(w, "  %-9s  ... %d more\n", k, n-int64(len(r.Examples[k])))
		}
	}
	if r.Repair != nil {
		for _, line := range r.Repair.lines() {
			fmt.Fprintln(w, line)
		}
	}
}

// examples keeps the n differences of each kind with the first keys.
type examples struct {
	n   int
	got map[string][]Difference
}

func (e *examples) add(d Difference) {
	list := e.got[d.Kind]
	i, found := slices.BinarySearchFunc(list, d.Key, func(x Difference, k string) int { return strings.Compare(x.Key, k) })
	if found || i >= e.n {
		return
	}
	list = slices.Insert(list, i, d)
	if len(list) > e.n {
		list = list[:e.n]
	}
	e.got[d.Kind] = list
}
