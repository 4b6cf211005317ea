package observability

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"testing"

	"github.com/jetsync/jetsync/infra/testenv"
)

// named returns the jetsync_* metric names an expression text uses
// (histogram series by their base name).
func named(text string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`\bjetsync_[a-z_]+`).FindAllString(text, -1) {
		out = append(out, regexp.MustCompile(`_(bucket|sum|count)$`).ReplaceAllString(m, ""))
	}
	return out
}

// TestRules: promtool accepts the rules and their unit tests pass (each
// alert fires on its condition and not otherwise), and every metric they
// name is exported.
func TestRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is missing: infra/local/up.sh installs it (Debian package prometheus)")
	}
	for _, args := range [][]string{{"check", "rules", "rules.yml"}, {"test", "rules", "rules_test.yml"}} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Fatalf("promtool %v: %v\n%s", args, err, out)
		}
	}
	rules, err := os.ReadFile("rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	have := testenv.ExportedMetrics(t, "../..")
	for _, m := range named(string(rules)) {
		if !have[m] {
			t.Errorf("rules.yml names %s, which no process exports", m)
		}
	}
}

// TestDashboard: the dashboard is JSON whose every query names metrics
// the code exports.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	have := testenv.ExportedMetrics(t, "../..")
	queries := 0
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			queries++
			ms := named(q.Expr)
			if len(ms) == 0 {
				t.Errorf("panel %q: query %q names no jetsync metric", p.Title, q.Expr)
			}
			for _, m := range ms {
				if !have[m] {
					t.Errorf("panel %q names %s, which no process exports", p.Title, m)
				}
			}
		}
	}
	if queries < 10 {
		t.Fatalf("%d queries in the dashboard", queries)
	}
}
