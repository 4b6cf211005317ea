package platform_test

import (
	"strings"
	"testing"

	"github.com/jetsync/jetsync/infra/platform"
)

func TestVariables(t *testing.T) {
	var cfg struct {
		Addr string `split_words:"true" default:"127.0.0.1:1"`
		Name string `split_words:"true" required:"true"`
		platform.LogConfig
		Secret  platform.Secret `split_words:"true"`
		Nothing int             `ignored:"true"`
	}
	got := map[string]platform.Variable{}
	for _, v := range platform.Variables(&cfg) {
		got[v.Name] = v
	}
	if v := got["JETSYNC_ADDR"]; v.Default != "127.0.0.1:1" || v.Required {
		t.Fatalf("JETSYNC_ADDR: %+v", v)
	}
	if v := got["JETSYNC_NAME"]; !v.Required {
		t.Fatalf("JETSYNC_NAME: %+v", v)
	}
	if v := got["JETSYNC_LOG_FORMAT"]; v.Default != "auto" {
		t.Fatalf("JETSYNC_LOG_FORMAT: %+v (all: %v)", v, got)
	}
	var b strings.Builder
	platform.Usage(&b, "jetsync-x", "does x", &cfg, platform.Subcommand{Name: "verify", Args: "[--json]", Summary: "compares"})
	for _, want := range []string{"jetsync-x: does x", "jetsync-x check", "jetsync-x verify [--json]\n      compares", "JETSYNC_ADDR", "127.0.0.1:1", "JETSYNC_NAME", "(required)"} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("usage lacks %q:\n%s", want, b.String())
		}
	}
}
