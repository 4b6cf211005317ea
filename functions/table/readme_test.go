package table

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jetsync/jetsync/bridge"
	"github.com/jetsync/jetsync/connectors/mongodb"
	"github.com/jetsync/jetsync/infra/platform"
	"github.com/jetsync/jetsync/infra/testenv"
)

// readmeVariables reads the README's configuration tables: each JETSYNC_*
// variable a row names, with the row's default ("" for none).
func readmeVariables(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	code := regexp.MustCompile("`([^`]*)`")
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| ") || !strings.Contains(line, "`JETSYNC_") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		at := 0
		for at < len(cells) && !strings.Contains(cells[at], "`JETSYNC_") {
			at++
		}
		if at+1 >= len(cells) {
			continue
		}
		// One default per name ("`4`, `256`"), or the first name's only
		// ("(none)", "(required)", "(server's)" ... are no default).
		var defs []string
		if cell := strings.TrimSpace(cells[at+1]); strings.HasPrefix(cell, "`") {
			for _, m := range code.FindAllStringSubmatch(cell, -1) {
				defs = append(defs, m[1])
			}
		}
		var first string
		for i, m := range code.FindAllStringSubmatch(cells[at], -1) {
			def := ""
			if i < len(defs) && (i == 0 || len(defs) > 1) {
				def = defs[i]
			}
			name := m[1]
			if strings.HasPrefix(name, "_") && first != "" {
				// `JETSYNC_CASSANDRA_TLS_CERT_FILE`, `_TLS_KEY_FILE`
				seg := strings.SplitN(name[1:], "_", 2)[0]
				name = first[:strings.LastIndex(first, "_"+seg)] + name
			}
			if first == "" {
				first = name
			}
			if base, ok := strings.CutSuffix(name, "[_FILE]"); ok {
				out[base], out[base+"_FILE"] = def, ""
				continue
			}
			out[name] = def
		}
	}
	return out
}

// TestReadmeDefaults: every variable the bridge and the table function
// read is in the README's tables with the default the code has (the
// README is the user's only reference; --help prints the same from the
// code).
func TestReadmeDefaults(t *testing.T) {
	documented := readmeVariables(t)
	// Defaults the code applies after reading the environment.
	applied := map[string]string{"JETSYNC_FUNCTION_VERSION": "1", "JETSYNC_MONGODB_URI": mongodb.DefaultURI}
	for name, spec := range map[string]any{"jetsync-bridge": &bridge.Config{}, "jetsync-table": &Config{}} {
		for _, v := range platform.Variables(spec) {
			if d, ok := applied[v.Name]; ok {
				v.Default = d
			}
			if v.Bool && v.Default == "" {
				v.Default = "false"
			}
			def, ok := documented[v.Name]
			switch {
			case !ok:
				t.Errorf("%s reads %s, which the README does not list", name, v.Name)
			case def != v.Default:
				t.Errorf("%s: README says %s defaults to %q, the code to %q", name, v.Name, def, v.Default)
			}
		}
	}
}

// TestReadmeMetrics: every metric the processes export is in the README's
// metric table.
func TestReadmeMetrics(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for m := range testenv.ExportedMetrics(t, "../..") {
		if !strings.Contains(string(readme), "`"+m) {
			t.Errorf("the processes export %s, which the README's metric table does not list", m)
		}
	}
}
