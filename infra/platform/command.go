package platform

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/kelseyhightower/envconfig"
)

// Mode is what a jetsync process was asked to do by its arguments.
type Mode int

const (
	// Run the process (no arguments).
	Run Mode = iota
	// Check the configuration and what it reaches, then exit.
	Check
	// Sub runs one of the binary's subcommands (Subcommand).
	Sub
)

// Subcommand is a command a binary takes besides check, e.g.
// `jetsync-table verify`: its name, its arguments as the usage shows them,
// and what it does. It parses its own arguments.
type Subcommand struct {
	Name, Args, Summary string
}

// Command reads a jetsync binary's arguments before its configuration:
// --help (-h, help) prints summary and every variable of spec (prefix
// JETSYNC) with its default, taken from the struct so that it cannot drift
// from the code, and exits 0; --version (version) prints the build and
// exits 0; "check" returns Check; the name of one of subs returns Sub and
// the arguments from that name on; no argument returns Run; anything else
// prints the usage and exits 2.
func Command(name, summary string, spec any, args []string, subs ...Subcommand) (Mode, []string) {
	if len(args) == 0 {
		return Run, nil
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		Usage(os.Stdout, name, summary, spec, subs...)
		os.Exit(0)
	case "--version", "-version", "version":
		fmt.Println(name, Version())
		os.Exit(0)
	case "check":
		if len(args) == 1 {
			return Check, nil
		}
	}
	for _, s := range subs {
		if args[0] == s.Name {
			return Sub, args
		}
	}
	fmt.Fprintf(os.Stderr, "%s: unknown arguments %q\n\n", name, args)
	Usage(os.Stderr, name, summary, spec, subs...)
	os.Exit(2)
	return Run, nil
}

// Usage prints what the command does, how to call it (subs too) and every
// variable of spec with its default.
func Usage(w io.Writer, name, summary string, spec any, subs ...Subcommand) {
	fmt.Fprintf(w, "%s: %s\n\nUsage:\n  %s          run (configured by the environment)\n  %s check    check the configuration and what it reaches, then exit (0: all good)\n",
		name, summary, name, name)
	for _, s := range subs {
		fmt.Fprintf(w, "  %s %s %s\n      %s\n", name, s.Name, s.Args, s.Summary)
	}
	fmt.Fprintf(w, "  %s --version\n  %s --help\n\nEnvironment (the README says what each one means):\n", name, name)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  VARIABLE\tDEFAULT")
	for _, v := range Variables(spec) {
		def := v.Default
		if v.Required {
			def = "(required)"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", v.Name, def)
	}
	tw.Flush()
}

// Variable is one environment variable of a configuration struct.
type Variable struct {
	Name, Default  string
	Required, Bool bool
}

// Variables lists the JETSYNC_* variables of spec as envconfig reads them.
func Variables(spec any) []Variable {
	var out []Variable
	var b strings.Builder
	if err := envconfig.Usagef("jetsync", spec, &b, "{{range .}}{{usage_key .}}\x1f{{usage_default .}}\x1f{{usage_required .}}\x1f{{usage_type .}}\n{{end}}"); err != nil {
		return nil
	}
	for _, line := range strings.Split(b.String(), "\n") {
		var v Variable
		parts := strings.Split(line, "\x1f")
		if len(parts) != 4 {
			continue
		}
		v.Name, v.Default, v.Required, v.Bool = parts[0], parts[1], parts[2] == "true", parts[3] == "True or False"
		out = append(out, v)
	}
	return out
}

// Version is the module version and VCS revision the binary was built
// from.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown build)"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v += " " + s.Value
		case "vcs.modified":
			if s.Value == "true" {
				v += " (modified)"
			}
		}
	}
	return v + " " + bi.GoVersion
}
