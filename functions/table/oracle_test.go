//go:build !oracle

package table

import (
	"strings"
	"testing"
)

// TestOracleNeedsTaggedBuild: the default build names how to get Oracle.
func TestOracleNeedsTaggedBuild(t *testing.T) {
	c := Config{Config: newWorld(t).FunctionConfig("fn", "p"), Table: "t", KeyColumn: "id", Mappings: "a:a", Mode: "upsert", Connector: "oracle"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "-tags oracle") {
		t.Fatalf("Validate = %v, want it to say how to build with Oracle", err)
	}
}
