package bench

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
)

// Report is everything one run measured.
type Report struct {
	Machine  Machine `json:"machine"`
	Options  Options `json:"options"`
	Ceilings struct {
		// MySQLOverKeys: the drain phase's rows (N over K keys);
		// MySQLUnique: N distinct keys; JetStream: N messages.
		MySQLOverKeys Rate `json:"mysql_over_keys"`
		MySQLUnique   Rate `json:"mysql_unique"`
		JetStream     Rate `json:"jetstream"`
	} `json:"ceilings"`
	Drains  []Drain   `json:"drains"`
	Latency Latency   `json:"latency"`
	Bridge  Resources `json:"bridge"`
	Targets []Target  `json:"targets"`
}

// Resources of a process over the whole run.
type Resources struct {
	PeakRSS  int64   `json:"peak_rss_bytes"`
	CPUPer1k float64 `json:"cpu_seconds_per_1k_changes"`
}

// Target is one of the goals and whether this run reached it.
type Target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

// Machine describes where the run happened.
type Machine struct {
	CPU     string `json:"cpu"`
	Cores   int    `json:"cores"`
	Kernel  string `json:"kernel"`
	Go      string `json:"go"`
	MariaDB string `json:"mariadb"`
	Redis   string `json:"redis"`
	NATS    string `json:"nats_server"`
	// Load averages (1 min) when the run started and ended: other work on
	// the machine shares its cores with every phase.
	LoadStart string `json:"load_start"`
	LoadEnd   string `json:"load_end"`
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

func machine(ctx context.Context, db *sql.DB, nc *nats.Conn, rdb *redis.Client) Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), NATS: nc.ConnectedServerVersion(), LoadStart: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	_ = db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&m.MariaDB)
	if info, err := rdb.Info(ctx, "server").Result(); err == nil {
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				m.Redis = v
			}
		}
	}
	return m
}

const mib = 1 << 20

func (r *Report) evaluate() {
	for i := range r.Drains {
		d := &r.Drains[i]
		if d.Ceiling.PerSec > 0 && d.DrainSeconds > 0 {
			// Rows per second on both sides: the ceiling writes every row
			// it is given, the pipeline only what is left after coalescing
			// (Applied), so dividing N by both times would flatter it.
			d.Ratio = float64(d.Applied) / d.DrainSeconds / d.Ceiling.PerSec
		}
	}
	for _, d := range r.Drains {
		want := 0.25
		if d.Keys < d.Changes {
			want = 0.6
		}
		r.Targets = append(r.Targets, Target{
			Name: "drain (" + d.Name + ") rows/s / MariaDB ceiling's", Want: fmt.Sprintf(">= %.2f", want),
			Got: fmt.Sprintf("%.2f", d.Ratio), Met: d.Ratio >= want,
		})
		if d.Keys == d.Changes {
			var sum float64
			for _, v := range d.CPUPer1k {
				sum += v
			}
			r.Targets = append(r.Targets, Target{
				Name: "CPU per change, all processes (" + d.Name + ")", Want: "<= 45 µs",
				Got: fmt.Sprintf("%.0f µs", sum*1000), Met: sum*1000 <= 45,
			})
		}
	}
	r.Targets = append(r.Targets, Target{
		Name: fmt.Sprintf("p50 latency at %d/s", r.Latency.Rate), Want: "<= 3 ms",
		Got: fmt.Sprintf("%.1f ms", r.Latency.P50), Met: r.Latency.P50 <= 3,
	}, Target{
		Name: fmt.Sprintf("p99 latency at %d/s", r.Latency.Rate), Want: "<= 10 ms",
		Got: fmt.Sprintf("%.1f ms", r.Latency.P99), Met: r.Latency.P99 <= 10,
	})
	r.Targets = append(r.Targets, Target{
		Name: "bridge peak RSS", Want: "<= 64 MiB",
		Got: fmt.Sprintf("%.1f MiB", float64(r.Bridge.PeakRSS)/mib), Met: r.Bridge.PeakRSS <= 64*mib,
	})
	var fn int64
	for _, d := range r.Drains {
		fn = max(fn, d.FunctionPeakRSS)
	}
	fn = max(fn, r.Latency.FunctionPeakRSS)
	r.Targets = append(r.Targets, Target{
		Name: "function peak RSS (largest of the phases)", Want: "<= 64 MiB",
		Got: fmt.Sprintf("%.1f MiB", float64(fn)/mib), Met: fn <= 64*mib,
	})
}

// WriteTable prints the report for people.
func (r *Report) WriteTable(out io.Writer) {
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	m := r.Machine
	fmt.Fprintf(w, "machine\t%s, %d cores, Linux %s, %s; MariaDB %s, Redis %s, nats-server %s\n", m.CPU, m.Cores, m.Kernel, m.Go, m.MariaDB, m.Redis, m.NATS)
	o := r.Options
	fmt.Fprintf(w, "load average\t%s at the start, %s at the end (other work shares the cores)\n", m.LoadStart, m.LoadEnd)
	fmt.Fprintf(w, "options\tN=%d K=%d rate=%d/s for %s, batch %d, connector %s\n", o.Changes, o.Keys, o.Rate, o.Duration, o.Batch, o.Connector)
	if len(o.BridgeEnv)+len(o.FunctionEnv) > 0 {
		fmt.Fprintf(w, "extra env\tbridge %v, functions %v\n", o.BridgeEnv, o.FunctionEnv)
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "CEILINGS (same machine, same run)\n")
	fmt.Fprintf(w, "  MariaDB batched upserts, N over K keys\t%s\n", fmtRate(r.Ceilings.MySQLOverKeys))
	fmt.Fprintf(w, "  MariaDB batched upserts, N distinct keys\t%s\n", fmtRate(r.Ceilings.MySQLUnique))
	fmt.Fprintf(w, "  JetStream publish + consume + ack, N messages\t%s\n\n", fmtRate(r.Ceilings.JetStream))

	for _, d := range r.Drains {
		fmt.Fprintf(w, "END TO END: %s (N=%d over %d keys)\n", strings.ToUpper(d.Name), d.Changes, d.Keys)
		fmt.Fprintf(w, "  loader (pipelined HSETs)\t%.2f s\t%.0f changes/s\n", d.LoadSeconds, float64(d.Changes)/d.LoadSeconds)
		fmt.Fprintf(w, "  bridge done publishing (stream stops growing)\t%.2f s\t%.0f changes/s\n", d.PublishedSeconds, float64(d.Changes)/d.PublishedSeconds)
		fmt.Fprintf(w, "  bridge: most keys queued (sampled)\t%d\n", d.BridgeMaxQueued)
		fmt.Fprintf(w, "  every key's final value committed\t%.2f s\t%.0f changes/s\n", d.FinalSeconds, float64(d.Changes)/d.FinalSeconds)
		fmt.Fprintf(w, "  drained: all published applied + acked\t%.2f s\t%.0f changes/s\n", d.DrainSeconds, d.PerSec)
		fmt.Fprintf(w, "  published by the bridge / applied by the function\t%d / %d\n", d.Published, d.Applied)
		fmt.Fprintf(w, "  function: batches, messages per batch, time in MariaDB writes\t%d, %.0f, %.2f s\n", d.Batches, float64(d.Published)/float64(max(1, d.Batches)), d.WriteSeconds)
		fmt.Fprintf(w, "  rows written: pipeline / ceiling\t%d / %d\n", d.Applied, d.Ceiling.Count)
		fmt.Fprintf(w, "  rows/s, ratio to the MariaDB ceiling's rows/s\t%.0f, %.2f\n", float64(d.Applied)/d.DrainSeconds, d.Ratio)
		fmt.Fprintf(w, "  CPU s per 1,000 changes\t%s\n", fmtCPU(d.CPUPer1k))
		fmt.Fprintf(w, "  function peak RSS\t%.1f MiB\n\n", float64(d.FunctionPeakRSS)/mib)
	}
	l := r.Latency
	fmt.Fprintf(w, "LATENCY: HSET -> row committed (%d/s target, %.0f/s achieved, %d changes, %.0f s)\n", l.Rate, l.Achieved, l.Changes, l.Seconds)
	fmt.Fprintf(w, "  p50 / p95 / p99 / max\t%.1f / %.1f / %.1f / %.1f ms (a reader polling every 5 ms: up to 5 ms late)\n", l.P50, l.P95, l.P99, l.Max)
	fmt.Fprintf(w, "  to the upsert statement, p50 / p99\t%.1f / %.1f ms\n", l.StatementP50, l.StatementP99)
	fmt.Fprintf(w, "  CPU s per 1,000 changes\t%s\n", fmtCPU(l.CPUPer1k))
	fmt.Fprintf(w, "  function peak RSS\t%.1f MiB\n\n", float64(l.FunctionPeakRSS)/mib)

	fmt.Fprintf(w, "BRIDGE (one process, all phases)\n")
	fmt.Fprintf(w, "  peak RSS\t%.1f MiB\n", float64(r.Bridge.PeakRSS)/mib)
	fmt.Fprintf(w, "  CPU s per 1,000 changes\t%.3f\n\n", r.Bridge.CPUPer1k)

	fmt.Fprintf(w, "TARGETS\n")
	for _, t := range r.Targets {
		fmt.Fprintf(w, "  %s\t%s (want %s)\t%s\n", t.Name, t.Got, t.Want, map[bool]string{true: "met", false: "MISSED"}[t.Met])
	}
	w.Flush()
}

func fmtRate(r Rate) string {
	return fmt.Sprintf("%.0f /s\t(%d in %.2f s; CPU s per 1,000: %s)", r.PerSec, r.Count, r.Seconds, fmtCPU(r.CPUPer1k))
}

func fmtCPU(m map[string]float64) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	order := []string{"bench (client)", "bridge", "function", "nats-server", "redis-server", "mariadbd"}
	slices.SortFunc(names, func(a, b string) int { return slices.Index(order, a) - slices.Index(order, b) })
	parts := make([]string, 0, len(names))
	total := 0.0
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.3f", n, m[n]))
		total += m[n]
	}
	return strings.Join(parts, ", ") + fmt.Sprintf("; sum %.3f", total)
}
