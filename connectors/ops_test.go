package connectors_test

import (
	"fmt"
	"testing"

	"github.com/jetsync/jetsync/connectors"
	"github.com/jetsync/jetsync/handlers"
)

func col(name string, v any) handlers.Column { return handlers.Column{Name: name, Value: v} }

func TestOpSources(t *testing.T) {
	w := handlers.Write{
		Changes: []handlers.KeySeq{{Key: "p:a", Seq: 5}, {Key: "p:b:c", Seq: 9}, {Key: "p:a", Seq: 7}, {Key: "p:z", Seq: 12}},
		Ops: []handlers.Op{
			{Table: "t", Key: []handlers.Column{col("id", "a")}},
			{Table: "t", Key: []handlers.Column{col("id", "b:c")}},            // ids may hold ':'
			{Table: "u", Key: []handlers.Column{col("x", 1), col("id", "a")}}, // any key column
			{Table: "t", Key: []handlers.Column{col("id", "derived-a")}},      // no change's id: the write's newest
		},
	}
	if got := fmt.Sprint(connectors.OpSeqs(w)); got != "[7 9 7 12]" {
		t.Fatalf("OpSeqs = %s, want [7 9 7 12]", got)
	}
	if got := fmt.Sprint(connectors.OpSources(w)); got != "[{7 [0 2]} {9 [1]} {7 [0 2]} {12 [3]}]" {
		t.Fatalf("OpSources = %s", got)
	}
}
